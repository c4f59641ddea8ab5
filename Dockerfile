# syntax=docker/dockerfile:1
# Production image of the Binational Vetting Registry.
#
#   docker build -t vetting-registry .
#   docker run --env-file registry.env -p 8000:8000 vetting-registry
#
# REGISTRY_ENV=production by default: the container refuses to start unless
# REGISTRY_JWT_SECRET, REGISTRY_IDENTIFIER_KEY, REGISTRY_BLIND_INDEX_KEY and REGISTRY_SIGNING_KEY
# are set (see README.md and docs/operations.md). Point REGISTRY_DATABASE_URL at PostgreSQL.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the application and its pinned dependencies in a virtual environment -----------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml requirements.lock ./
COPY app ./app
# requirements.lock pins every runtime dependency; the dev extras are not installed.
RUN pip install -c requirements.lock .

# --- runtime ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REGISTRY_ENV=production

RUN groupadd --system --gid 10001 registry \
    && useradd --system --uid 10001 --gid registry --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin registry

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The source tree next to alembic.ini and migrations/: `registry migrate` finds both relative to
# app/ (PYTHONPATH=/app puts this copy ahead of the one installed in the venv).
COPY app ./app
COPY migrations ./migrations
COPY alembic.ini ./
# var/ holds the SQLite file only when no REGISTRY_DATABASE_URL is given; production uses
# PostgreSQL, but the directory must be writable by the service user either way.
RUN mkdir -p /app/var && chown registry:registry /app/var

USER registry
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# Migrations first (a no-op when the database is current), then the server; exec hands signals
# to uvicorn so `docker stop` shuts it down cleanly. `/readyz` stays 503 until the U.S. override
# commission seats exist: run `registry seed agencies` once (docs/task-forces.md), or designate them
# through the API. With several replicas, run `registry migrate`
# as a one-off job instead (docs/operations.md).
CMD ["sh", "-c", "registry migrate && exec uvicorn app.main:create_app --factory --host 0.0.0.0 --port 8000"]
