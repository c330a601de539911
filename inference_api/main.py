"""The FastAPI application: ``uvicorn inference_api.main:app``."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import swagger_ui
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from hourcast import __version__
from hourcast.serving import served_targets
from hourcast.settings import Settings, check_production_settings, get_settings
from hourcast.storage.db import create_db_engine
from hourcast.targets import Target
from hourcast.training.tracking import ServedModel, load_model_by_alias
from inference_api.model_store import Loader, ModelStore
from inference_api.prometheus import install_metrics
from inference_api.routes import forecast, health, models

__all__ = ["app", "create_app"]

log = logging.getLogger("inference_api")


def registry_loader(settings: Settings) -> Loader:
    """Load ``<model name>@<alias>`` of a training target from the MLflow registry.

    The model slots retry every ``api_model_retry_seconds``; MLflow's own HTTP retries (7, with
    exponential backoff) would instead hold the start-up, and ``/health``, for minutes while
    the tracking server is down, so they are cut to one unless set in the environment.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")

    def load(target: Target) -> ServedModel:
        return load_model_by_alias(
            tracking_uri=settings.mlflow_tracking_uri,
            name=target.model_name,
            alias=settings.model_alias,
        )

    return load


def create_app(settings: Settings | None = None, loader: Loader | None = None) -> FastAPI:
    """Build the app; models load at start-up (retried in the background until found)."""
    settings = settings or get_settings()
    check_production_settings(settings, "api")
    targets = served_targets(settings.api_models)  # fails at start-up on an unknown name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = create_db_engine(settings.resolved_database_url)
        store = ModelStore(
            targets,
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
        docs_url=None,  # served below from local assets: the default page needs a CDN
    )
    # swagger-ui-py bundles Swagger UI 5, which renders OpenAPI 3.1 (FastAPI's version).
    assets = Path(swagger_ui.__file__).parent / "static"
    app.mount("/static/swagger-ui", StaticFiles(directory=assets), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Log the trace for operators; never send it to the client.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            content={"detail": "internal error; the server log has the details"},
        )

    install_metrics(app)
    app.include_router(health.router)
    v1 = APIRouter(prefix="/v1")
    v1.include_router(models.router)
    v1.include_router(forecast.router)
    app.include_router(v1)
    return app


app = create_app()
