"""The FastAPI application: ``uvicorn inference_api.main:app``."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import swagger_ui
from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, ORJSONResponse
from fastapi.staticfiles import StaticFiles

from hourcast import __version__
from hourcast.auth.mode import auth_required
from hourcast.serving import served_targets
from hourcast.settings import Settings, check_production_settings, get_settings
from hourcast.storage.db import create_db_engine
from inference_api.auth import (
    ADMIN_RESPONSES,
    AUTH_RESPONSES,
    Authenticator,
    authenticate,
    require_admin,
)
from inference_api.errors import BodySizeLimit, install_error_handlers, reject_unknown_query
from inference_api.model_store import Loader, ModelSource, ModelStore, RegistrySource
from inference_api.monitoring_metrics import MonitorGauges
from inference_api.prediction_log import ApiPredictionLog
from inference_api.prometheus import install_metrics
from inference_api.routes import admin, auth, forecast, health, models

__all__ = ["app", "create_app", "served_app"]

log = logging.getLogger("inference_api")


def registry_loader(settings: Settings) -> RegistrySource:
    """The MLflow registry with the local model cache (``ModelStore`` polls it).

    The store polls every ``api_model_poll_seconds``; MLflow's own HTTP retries (7, with
    exponential backoff) would instead hold the start-up, ``/health`` and every poll for
    minutes while the tracking server is down, so they are cut to one unless set in the
    environment.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    return RegistrySource(
        tracking_uri=settings.mlflow_tracking_uri,
        alias=settings.model_alias,
        cache_dir=settings.resolved_model_cache_dir,
    )


def create_app(
    settings: Settings | None = None,
    loader: ModelSource | Loader | None = None,
    *,
    freeze_heap: bool = False,
) -> FastAPI:
    """Build the app; models load at start-up, then the registry alias is polled.

    With ``freeze_heap`` (a server process of its own, :func:`served_app`), what start-up
    built is moved out of the garbage collector's reach once the models are loaded.
    """
    settings = settings or get_settings()
    check_production_settings(settings, "api")
    targets = served_targets(settings.api_models)  # fails at start-up on an unknown name
    auth_required(settings)  # refuses HOURCAST_API_AUTH=off in production

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = create_db_engine(settings.resolved_database_url)
        app.state.auth = Authenticator.from_settings(settings, app.state.engine)
        # The log writes through its own connection pool: a database outage that holds its
        # connections must not take the ones the requests read with.
        log_engine = create_db_engine(settings.resolved_database_url)
        app.state.prediction_log = ApiPredictionLog.from_settings(settings, log_engine)
        app.state.prediction_log.start()
        store = ModelStore(
            targets,
            loader or registry_loader(settings),
            poll_seconds=settings.api_model_poll_seconds,
            retry_seconds=settings.api_model_retry_seconds,
            threads=settings.api_threads,
        )
        app.state.models = store
        app.state.forecasts = forecast.forecast_coalescer()
        store.start()
        # The monitor's newest figures as Prometheus gauges (read from the store).
        gauges = MonitorGauges(app.state.engine, settings.api_monitor_refresh_seconds)
        gauges.start()
        if freeze_heap:
            # The libraries and the model (300,000 objects) are never garbage: a full
            # collection scanned them for 90 ms, which showed as a 130 ms p99 at 32 clients.
            # Frozen, the requests' garbage is collected alone: 12 % more requests/s
            # (scripts/benchmark_api.py).
            gc.collect()
            gc.freeze()
        yield
        gauges.stop()
        store.stop()
        app.state.prediction_log.close()  # writes what is buffered
        log_engine.dispose()
        app.state.engine.dispose()

    app = FastAPI(
        title="Hourcast inference API",
        version=__version__,
        description="Hourly forecasts from the models registered in MLflow.",
        lifespan=lifespan,
        default_response_class=ORJSONResponse,
        docs_url=None,  # served below from local assets: the default page needs a CDN
        redoc_url=None,  # one docs page (ReDoc would load from a CDN)
        dependencies=[Depends(reject_unknown_query)],
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

    install_error_handlers(app)
    install_metrics(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    app.include_router(health.router)
    app.include_router(auth.router, prefix="/v1")
    # Every other /v1 route needs a token or an API key, and the admin routes an admin.
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authenticate)], responses=AUTH_RESPONSES)
    v1.include_router(models.router)
    v1.include_router(forecast.router)
    v1.include_router(
        admin.router, dependencies=[Depends(require_admin)], responses=ADMIN_RESPONSES
    )
    app.include_router(v1)
    return app


app: FastAPI  # ``uvicorn inference_api.main:app``: built by __getattr__ on first use


def __getattr__(name: str) -> FastAPI:
    # ``app`` is built on first use (``uvicorn inference_api.main:app``): a worker of ``python
    # -m inference_api`` imports this module for ``served_app`` and needs no second app.
    if name == "app":
        built = create_app()
        globals()["app"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def served_app() -> FastAPI:
    """The app of a server process (``python -m inference_api``): its heap frozen at start."""
    return create_app(freeze_heap=True)
