"""The FastAPI application: ``uvicorn inference_api.main:app``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import JSONResponse

from hourcast import __version__
from hourcast.series import KNOWN_SERIES, SeriesSpec
from hourcast.settings import Settings, get_settings
from hourcast.storage.db import create_db_engine
from hourcast.tracking import ServedModel, load_model_by_alias
from inference_api.model_store import Loader, ModelStore
from inference_api.routes import forecast, health, models

__all__ = ["app", "create_app"]

log = logging.getLogger("inference_api")


def registry_loader(settings: Settings) -> Loader:
    """Load ``<model name>@<alias>`` of a series from the MLflow registry."""

    def load(spec: SeriesSpec) -> ServedModel:
        return load_model_by_alias(
            tracking_uri=settings.mlflow_tracking_uri,
            name=spec.model_name,
            alias=settings.model_alias,
        )

    return load


def create_app(settings: Settings | None = None, loader: Loader | None = None) -> FastAPI:
    """Build the app; models load at start-up (retried in the background until found)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = create_db_engine(settings.resolved_database_url)
        store = ModelStore(
            list(KNOWN_SERIES.values()),
            loader or registry_loader(settings),
            settings.api_model_retry_seconds,
        )
        app.state.models = store
        store.start()
        yield
        store.stop()
        app.state.engine.dispose()

    app = FastAPI(
        title="Hourcast inference API",
        version=__version__,
        description="Hourly forecasts from the models registered in MLflow.",
        lifespan=lifespan,
    )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Log the trace for operators; never send it to the client.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            content={"detail": "internal error; the server log has the details"},
        )

    app.include_router(health.router)
    v1 = APIRouter(prefix="/v1")
    v1.include_router(models.router)
    v1.include_router(forecast.router)
    app.include_router(v1)
    return app


app = create_app()
