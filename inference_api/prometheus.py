"""Prometheus metrics of the API: requests, latencies and errors by route, forecast sizes.

prometheus-fastapi-instrumentator counts every request, a 500 from an unhandled exception
included (a plain ``http`` middleware never sees those), as ``http_requests_total`` by
``handler`` (the route template, so label cardinality stays bounded), ``method`` and
``status``, with latency in ``http_request_duration_seconds``. With several worker processes
``PROMETHEUS_MULTIPROC_DIR`` (set by ``python -m inference_api``) makes ``/metrics`` sum them.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import Counter
from prometheus_fastapi_instrumentator import Instrumentator, metrics

__all__ = ["FORECAST_HOURS", "install_metrics"]

FORECAST_HOURS = Counter(
    "hourcast_api_forecast_hours_total", "Forecast hours served by series.", ["series_id"]
)
# Created once per process: the instrumentator's own defaults are registered only by the
# first app a process builds (the tests build many).
_HTTP_METRICS = metrics.default(latency_lowr_buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0))


def install_metrics(app: FastAPI) -> None:
    """Instrument every route and add ``GET /metrics`` (outside the OpenAPI schema)."""
    instrumentator = Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"])
    if _HTTP_METRICS is not None:
        instrumentator.add(_HTTP_METRICS)
    instrumentator.instrument(app).expose(app, include_in_schema=False)
