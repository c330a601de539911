"""Registered models held in memory, loaded at start-up and retried until the registry has them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from hourcast.series import SeriesSpec
from hourcast.tracking import ServedModel

__all__ = ["ModelSlot", "ModelStore"]

log = logging.getLogger(__name__)

Loader = Callable[[SeriesSpec], ServedModel]


class ModelSlot:
    """The model of one series: loaded once; until then retried in a background thread."""

    def __init__(self, spec: SeriesSpec, loader: Loader, retry_seconds: float) -> None:
        self.spec = spec
        self._loader = loader
        self._retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.model: ServedModel | None = None
        self.last_error: str | None = None

    def try_load(self) -> bool:
        """One attempt; True when a model is loaded."""
        try:
            self.model = self._loader(self.spec)
        except Exception as exc:  # the registry may be down or empty: keep trying, log why
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("model for %s not loaded yet: %s", self.spec.series_id, self.last_error)
            return False
        self.last_error = None
        log.info(
            "loaded %s version %s for %s",
            self.model.name,
            self.model.version,
            self.spec.series_id,
        )
        return True

    def _retry_loop(self) -> None:
        while not self._stop.wait(self._retry_seconds):
            if self.try_load():
                return

    def start(self) -> None:
        """Load now, or keep retrying in the background."""
        if not self.try_load():
            self._thread = threading.Thread(
                target=self._retry_loop, name=f"load-{self.spec.series_id}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop retrying."""
        self._stop.set()


class ModelStore:
    """One slot per known series."""

    def __init__(self, specs: list[SeriesSpec], loader: Loader, retry_seconds: float) -> None:
        self.slots = {spec.series_id: ModelSlot(spec, loader, retry_seconds) for spec in specs}

    def start(self) -> None:
        """Start loading every slot."""
        for slot in self.slots.values():
            slot.start()

    def stop(self) -> None:
        """Stop background retries."""
        for slot in self.slots.values():
            slot.stop()
