"""Registered models held in memory, loaded at start-up and retried until the registry has them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from hourcast.series import UnknownSeriesError
from hourcast.serving import routable_series, route_series, store_lookup
from hourcast.storage.observations import StoredSeries
from hourcast.targets import Target
from hourcast.training.tracking import ServedModel

__all__ = ["Loader", "ModelSlot", "ModelStore"]

log = logging.getLogger(__name__)

Loader = Callable[[Target], ServedModel]


class ModelSlot:
    """The model of one training target: loaded once; until then retried in a background thread."""

    def __init__(self, target: Target, loader: Loader, retry_seconds: float) -> None:
        self.target = target
        self._loader = loader
        self._retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.model: ServedModel | None = None
        self.last_error: str | None = None

    def try_load(self) -> bool:
        """One attempt; True when a model is loaded."""
        try:
            self.model = self._loader(self.target)
        except Exception as exc:  # the registry may be down or empty: keep trying, log why
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("model %s not loaded yet: %s", self.target.model_name, self.last_error)
            return False
        self.last_error = None
        log.info("loaded %s version %s", self.model.name, self.model.version)
        return True

    def _retry_loop(self) -> None:
        while not self._stop.wait(self._retry_seconds):
            if self.try_load():
                return

    def start(self) -> None:
        """Load now, or keep retrying in the background."""
        if not self.try_load():
            self._thread = threading.Thread(
                target=self._retry_loop, name=f"load-{self.target.name}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop retrying."""
        self._stop.set()

    @property
    def dedicated_series(self) -> str | None:
        """The one series a per-series model is registered for; None for a global model."""
        return self.target.series.series_id if self.target.series else None

    @property
    def fitted_series(self) -> list[str]:
        """The series the loaded model was fitted on (empty while not loaded)."""
        return sorted(self.model.forecaster.series_codes) if self.model else []

    @property
    def levels(self) -> list[int]:
        """The interval levels the loaded model has (empty while not loaded)."""
        return list(self.model.forecaster.interval_levels) if self.model else []


class ModelStore:
    """One slot per served training target."""

    def __init__(self, targets: Sequence[Target], loader: Loader, retry_seconds: float) -> None:
        self.slots = {target.name: ModelSlot(target, loader, retry_seconds) for target in targets}

    @property
    def targets(self) -> list[Target]:
        """The served targets, in order."""
        return [slot.target for slot in self.slots.values()]

    def route(self, series_id: str, *, engine: Engine) -> tuple[ModelSlot, StoredSeries]:
        """The slot whose model forecasts ``series_id``, and the series' description.

        Raises:
            UnknownSeriesError: No served model measures the series; it names the known ones.
        """
        route = route_series(series_id, targets=self.targets, lookup=store_lookup(engine))
        if route is None:
            raise UnknownSeriesError(series_id, routable_series(engine, targets=self.targets))
        return self.slots[route.target.name], route.series

    def start(self) -> None:
        """Start loading every slot."""
        for slot in self.slots.values():
            slot.start()

    def stop(self) -> None:
        """Stop background retries."""
        for slot in self.slots.values():
            slot.stop()
