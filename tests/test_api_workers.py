"""``python -m inference_api`` with several workers: a burst of connections reaches every worker.

uvicorn's workers share one socket, and the worker that wakes first accepts a whole burst
(measured: 0 of 32 connections on one of three workers). Each worker now has a socket of its
own (``inference_api.workers``); the kernel spreads connections over them.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from pathlib import Path

import psutil
import pytest

from hourcast.storage.db import create_db_engine, upgrade
from hourcast_dev import local_stack

pytestmark = [pytest.mark.integration]

WORKERS = 3
CONNECTIONS = 30  # a worker gets none by chance with probability 3 x (2/3)^30, about 1e-5


def _health_over(connection: socket.socket) -> bytes:
    """Send GET /health on an open connection (kept alive) and read the answer's head."""
    connection.sendall(b"GET /health HTTP/1.1\r\nHost: api\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def _connections_by_worker(api_pid: int, port: int) -> Counter[int]:
    """Established connections to ``port`` held by each worker process of the API."""
    held: Counter[int] = Counter()
    for worker in psutil.Process(api_pid).children(recursive=True):
        for connection in worker.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_ESTABLISHED and connection.laddr.port == port:
                held[worker.pid] += 1
    return held


def test_a_burst_of_connections_reaches_every_worker(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_db_engine(database)
    upgrade(engine)
    engine.dispose()
    port = local_stack.free_port()
    env = {
        **os.environ,
        "HOURCAST_HOME": str(tmp_path),
        "HOURCAST_DATABASE_URL": database,
        # No registry: /health answers without a model.
        "HOURCAST_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{local_stack.free_port()}",
        "HOURCAST_API_MODELS": "traffic",
        "HOURCAST_API_WORKERS": str(WORKERS),
    }
    run_dir = tmp_path / "run"
    api_pid = local_stack.start(local_stack.api_service(port=port, env=env), run_dir)
    connections = []
    try:
        # Every connection is made before any request is sent: one burst, as a pool opens.
        connections = [
            socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(CONNECTIONS)
        ]
        answers = [_health_over(connection) for connection in connections]
        assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers), answers[:3]

        held = _connections_by_worker(api_pid, port)

        assert sum(held.values()) == CONNECTIONS
        workers = [p.pid for p in psutil.Process(api_pid).children(recursive=True)]
        serving = [pid for pid in workers if held[pid] > 0]
        assert len(serving) == WORKERS, f"connections by worker: {dict(held)}"
    finally:
        for connection in connections:
            connection.close()
        local_stack.stop(run_dir, "api")
