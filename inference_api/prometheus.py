"""Prometheus metrics of the API: request counts and latencies by route, forecast sizes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

__all__ = ["FORECAST_HOURS", "install_metrics"]

REQUESTS = Counter(
    "hourcast_api_requests_total",
    "HTTP requests by route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "hourcast_api_request_seconds",
    "Request latency by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
FORECAST_HOURS = Counter(
    "hourcast_api_forecast_hours_total", "Forecast hours served by series.", ["series_id"]
)


def _route_of(request: Request) -> str:
    # The route template (/v1/forecast), not the raw path, keeps label cardinality bounded.
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


def install_metrics(app: FastAPI) -> None:
    """Add the timing middleware and ``GET /metrics``."""

    @app.middleware("http")
    async def _observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_of(request)
        LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
