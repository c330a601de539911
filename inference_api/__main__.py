"""``python -m inference_api``: the API under uvicorn, as the image and the local stack run it.

It runs ``HOURCAST_API_WORKERS`` worker processes (default 2), each with
``HOURCAST_API_THREADS`` OpenMP/XGBoost threads (default 1). One process with XGBoost's
default threads (every core) spends most of its time in thread hand-offs for the small
matrices of a forecast, and one process uses one core for the Python around it; a process
per core with one thread each keeps every core busy, and each worker accepts on a socket of its
own (:mod:`inference_api.workers`) so that connections spread evenly. With several workers,
``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary folder unless set) lets ``/metrics`` add up
every worker.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence

__all__ = ["main"]

log = logging.getLogger("uvicorn.error")

_APP = "inference_api.main:served_app"  # a factory: uvicorn calls it in each worker
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the address options, set the thread counts, run uvicorn."""
    parser = argparse.ArgumentParser(prog="python -m inference_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--proxy-headers",
        action="store_true",
        help="take the client address and scheme from X-Forwarded-* (behind a load balancer)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    from hourcast.settings import get_settings

    settings = get_settings()
    # Set before any worker imports numpy or XGBoost, which read them once.
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(settings.api_threads)
    metrics_dir = None
    if settings.api_workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        metrics_dir = tempfile.mkdtemp(prefix="hourcast-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    import uvicorn

    from inference_api.workers import (
        ReusePortSupervisor,
        reuse_port_available,
        reuse_port_sockets,
    )

    options = {
        "factory": True,
        "host": args.host,
        "port": args.port,
        "workers": settings.api_workers,
        "proxy_headers": args.proxy_headers,
        "access_log": args.access_log,
    }
    try:
        if settings.api_workers > 1 and reuse_port_available():
            config = uvicorn.Config(_APP, **options)
            sockets = reuse_port_sockets(
                args.host, args.port, settings.api_workers, backlog=config.backlog
            )
            port = sockets[0].getsockname()[1]
            log.info("API on http://%s:%s, %d workers", args.host, port, settings.api_workers)
            ReusePortSupervisor(config, sockets).run()
        else:
            uvicorn.run(_APP, **options)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
