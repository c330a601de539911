"""Worker processes of the API, each accepting on a listening socket of its own.

uvicorn's ``--workers`` share one listening socket. Each worker's event loop accepts every
pending connection when it wakes, so a burst of keep-alive connections (a load balancer's
pool, a load generator) lands mostly on one worker: measured here, 24 of 32 connections on
one of two workers and 0 of 32 on one of three, which left a core idle. With ``SO_REUSEPORT``
every worker has its own socket on the same port and the kernel spreads new connections over
them by address hash.

:class:`ReusePortSupervisor` is uvicorn's own supervisor (start, health checks, restart of a
dead worker, ``SIGHUP``) with worker ``i`` always on socket ``i``: a restarted worker takes
over its predecessor's socket and the connections queued on it.
"""

from __future__ import annotations

import logging
import socket

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

__all__ = ["ReusePortSupervisor", "reuse_port_available", "reuse_port_sockets"]

log = logging.getLogger("uvicorn.error")


def reuse_port_available() -> bool:
    """Whether this platform lets several sockets listen on one port (Linux, BSD)."""
    return hasattr(socket, "SO_REUSEPORT")


def reuse_port_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` listening sockets on ``host:port`` (port 0: one free port for all).

    Raises:
        OSError: The address is taken or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]  # the port 0 picked, for the next sockets
            sock.listen(backlog)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class ReusePortSupervisor(Multiprocess):
    """uvicorn's multiprocess supervisor, one socket per worker (``len(sockets)`` workers).

    Args:
        config: The uvicorn configuration every worker runs.
        sockets: From :func:`reuse_port_sockets`.
    """

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.processes_num = len(sockets)

    def _start_worker(self, index: int) -> Process:
        process = Process(self.config, [self.sockets[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        """Start a worker on each socket."""
        self.processes = [self._start_worker(index) for index in range(self.processes_num)]

    def restart_all(self) -> None:
        """Replace each worker (``SIGHUP``): the new one is ready before the old one stops."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start_worker(index)
            timeout = self.config.timeout_worker_healthcheck
            if not new.wait_until_ready(timeout, self.should_exit):
                new.kill()
                new.join()
                log.error("worker %s was not ready in time; the restart stops here", new.pid)
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def keep_subprocess_alive(self) -> None:
        """Replace a dead or hung worker on its socket; stop if one failed at start-up."""
        for index, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # The app or its settings are broken: every restart would fail the same way.
                log.error("worker %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            log.info("worker %s died; starting another on its socket", process.pid)
            self.processes[index] = self._start_worker(index)
