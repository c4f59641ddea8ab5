"""Builds the application: settings, database, middleware, routers, problem handlers."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from prometheus_fastapi_instrumentator import Instrumentator
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from app import logging as app_logging
from app.api import problems
from app.api.content_type import StrictContentTypeMiddleware
from app.api.metrics_access import metrics_access
from app.api.middleware import (
    BodySizeLimitMiddleware,
    SecurityHeadersMiddleware,
    UnexpectedErrorMiddleware,
)
from app.api.nul import refuse_nul_characters
from app.auth.passwords import PasswordHasher
from app.clock import Clock
from app.config import ConfigurationError, Settings, load_settings
from app.db import make_engine, make_sessionmaker
from app.routers import (
    agencies,
    api_keys,
    audit,
    auth,
    draws,
    eligibility,
    health,
    imports,
    listings,
    notifications,
    officials,
    overrides,
    policies,
    schedules,
    screenings,
    stats,
    task_forces,
    users,
    watches,
    webhooks,
    well_known,
)
from app.schemas.common import Problem
from app.services.accounts.bootstrap import bootstrap_admin
from app.services.audit.chainer import AuditChainer
from app.services.notifications.delivery import DeliveryWorker

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def check_storage(engine: Engine, *, min_free_bytes: int) -> None:
    """Refuse to start on a SQLite database the service cannot write: a read-only file or
    directory (SQLite also writes ``-wal`` and ``-shm`` files beside the database), a missing
    directory, or a full disk. PostgreSQL is not checked: when it is unreachable the service
    starts anyway, answers 503 and recovers by itself when the database returns."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(str(url.database).removeprefix("file:").split("?", 1)[0])
    folder = path.parent
    if not folder.is_dir():
        raise ConfigurationError(
            f"the directory of the SQLite database {path} does not exist; "
            "create it with `registry migrate`"
        )
    free = shutil.disk_usage(folder).free
    if free < min_free_bytes:
        raise ConfigurationError(
            f"the disk holding the SQLite database {path} is full ({free} bytes free, "
            f"REGISTRY_STORAGE_MIN_FREE_BYTES={min_free_bytes}); free space or move the database"
        )
    try:
        with engine.connect() as conn:
            # Rewrite the header's user_version with its own value and roll back: the smallest
            # write that proves the file, its directory and the connection are writable.
            version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
            conn.exec_driver_sql(f"PRAGMA user_version = {version}")
            conn.rollback()
    except OperationalError as exc:
        reason = str(exc.orig) if exc.orig is not None else type(exc).__name__
        raise ConfigurationError(
            f"the SQLite database {path} cannot be written ({reason}); make the file and its "
            "directory writable by the service's user"
        ) from None


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    modules = (
        auth,
        users,
        api_keys,
        audit,
        agencies,
        officials,
        eligibility,
        listings,
        screenings,
        watches,
        notifications,
        webhooks,
        policies,
        schedules,
        stats,
        draws,
        task_forces,
        overrides,
        imports,
    )
    for module in modules:
        router.include_router(module.router)
    return router


def install_openapi(app: FastAPI) -> None:
    """Describe validation errors as what they are: problem documents (DESIGN §5), not
    FastAPI's default shape."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(
            "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        for defs_name, defs in Problem.model_json_schema().get("$defs", {}).items():
            components.setdefault(defs_name, defs)
        problem_ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
        for item in schema.get("paths", {}).values():
            for op in item.values():
                responses = op.get("responses", {})
                if "422" in responses:
                    responses["422"]["content"] = {"application/problem+json": problem_ref}
                    responses["422"]["description"] = "Validation failed (problem document)"
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or load_settings()
    if settings.env != "test":
        app_logging.configure(settings.log_level, settings.log_json)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        connect_timeout=settings.database_connect_timeout_seconds,
    )
    factory = make_sessionmaker(engine)
    # Services that need keys outside a request's dependencies (R12b identity keys) find them here.
    factory.configure(info={"settings": settings})
    hasher = PasswordHasher(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A read-only or full SQLite store is refused here, with a message that says so,
        # rather than by the first request's error (docs/security.md, fault injection).
        try:
            check_storage(engine, min_free_bytes=settings.storage_min_free_bytes)
        except ConfigurationError as exc:
            # One plain line first: the server's own report of the failed start is a traceback.
            log.critical("cannot start: %s", exc)
            raise
        bootstrap_admin(factory, settings=settings, hasher=hasher, clock=app.state.clock)
        # R20: a commission department nobody holds is logged now, not found at the first
        # override that can never activate; /readyz fails for it too.
        health.log_commission_departments(factory, settings)
        worker = None
        if settings.deliver_in_process:
            worker = DeliveryWorker(factory, settings=settings, clock=app.state.clock)
            worker.start()
        # R22, #17: requests leave audit events pending; this thread links them (one leader
        # across processes on PostgreSQL; app/services/audit/chainer.py).
        chainer = app.state.audit_chainer = None
        if settings.audit_chain_in_process:
            chainer = app.state.audit_chainer = AuditChainer(factory, settings=settings)
            chainer.start()
        yield
        if chainer is not None:
            chainer.stop()
        if worker is not None:
            worker.stop()
        engine.dispose()

    app = FastAPI(
        title="Binational Vetting Registry",
        version="1.0.0",
        description=(
            "Registry of officials of Mexico and the United States who failed or refused vetting "
            "or were expelled; career-long re-vetting; joint task-force eligibility."
        ),
        lifespan=lifespan,
        # Every route: a NUL character in any string of a request is a 422 naming the field.
        dependencies=[Depends(refuse_nul_characters)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = factory
    app.state.hasher = hasher
    app.state.clock = clock or Clock()

    problems.install(app)
    install_openapi(app)
    app.include_router(health.router)
    app.include_router(well_known.router)
    app.include_router(api_router())

    # Closed by default in production (#19): app.api.metrics_access says who may read it.
    Instrumentator(excluded_handlers=["/metrics", "/healthz", "/readyz"]).instrument(app).expose(
        app, include_in_schema=False, dependencies=[Depends(metrics_access)]
    )
    # Outermost last: the request id exists before anything else runs. Innermost first: an
    # unexpected error becomes its 500 problem inside the other middleware, so the answer
    # carries the request id, security and CORS headers like every other.
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(StrictContentTypeMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "X-API-Key",
                "X-Request-ID",
                "Accept-Language",
            ],
            expose_headers=["ETag", "X-Request-ID", "Retry-After"],
        )
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    return app
