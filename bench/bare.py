"""The bare endpoint every route is compared with: a FastAPI app with one JSON route and
nothing else (no middleware, no database), served by the same uvicorn command as the service
and driven by the same wrk in the same run (``python -m bench wrk``, docs/benchmark.md)."""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/bare")
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/readyz")
    async def readyz() -> dict[str, bool]:
        return {"ok": True}

    return app
