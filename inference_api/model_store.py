"""The served models: loaded from the registry, kept on local disk, swapped while serving.

One slot per served training target. A background thread asks the registry every
``api_model_poll_seconds`` which version the alias names (every ``api_model_retry_seconds``
while a registered model is still missing); a new version is loaded beside the old one and
swapped in with one reference assignment, so a request uses either the old or the new
model, never waits for the swap and never fails on it. While the registry is unreachable the
slots keep the models they have and the store reports the registry as degraded. Every loaded
version is copied to ``api_model_cache_dir``, with a pointer per alias, so a restart with the
registry down serves the cached champion. A target the registry has no version of (never
trained) is ``not_registered``, which does not hold readiness.

Errors shown to clients name no internal address: the full reason goes to the log only.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from sqlalchemy import Engine

from hourcast.forecasting.fast_path import DirectPredictor
from hourcast.forecasting.forecaster import Forecaster
from hourcast.series import KNOWN_SERIES, UnknownSeriesError
from hourcast.serving import routable_series, route_series, store_lookup
from hourcast.storage.observations import StoredSeries
from hourcast.targets import Target
from hourcast.training.pyfunc_model import FORECASTER_ARTIFACT
from hourcast.training.tracking import ServedModel

__all__ = [
    "LoadedModel",
    "Loader",
    "LoaderSource",
    "ModelNotRegisteredError",
    "ModelSlot",
    "ModelSource",
    "ModelStore",
    "RegistrySource",
    "SlotState",
]

log = logging.getLogger(__name__)

Loader = Callable[[Target], ServedModel]
"""Resolve and load a target's model in one call (a stand-in registry in tests)."""
SlotState = Literal["loaded", "loading", "not_registered"]
ModelOrigin = Literal["registry", "cache"]
RegistryStatus = Literal["ok", "degraded", "unknown"]
_SERIES_TTL_SECONDS = 30.0


class ModelNotRegisteredError(LookupError):
    """The registry has no version of the model with the alias (the target was never trained)."""


@runtime_checkable
class ModelSource(Protocol):
    """Where models come from: which version the alias names, that version, a local copy."""

    def version(self, target: Target) -> str:
        """The version the alias names now.

        Raises:
            ModelNotRegisteredError: No version has the alias.
        """

    def load(self, target: Target, version: str) -> ServedModel:
        """Load ``version`` of the target's model."""

    def cached(self, target: Target) -> ServedModel | None:
        """The copy last loaded for the alias, from local disk; None if there is none."""


class LoaderSource:
    """A :data:`Loader` as a :class:`ModelSource`: each poll loads, a new version is swapped in."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader
        self._latest: dict[str, ServedModel] = {}

    def version(self, target: Target) -> str:
        """Load the model and tell its version."""
        model = self._loader(target)
        self._latest[target.name] = model
        return model.version

    def load(self, target: Target, version: str) -> ServedModel:
        """The model loaded by the last :meth:`version` call."""
        return self._latest[target.name]

    def cached(self, target: Target) -> ServedModel | None:
        """No local copies."""
        return None


def _not_registered(exc: MlflowException) -> bool:
    if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
        return True
    return exc.error_code == "INVALID_PARAMETER_VALUE" and "alias" in str(exc).lower()


class RegistrySource:
    """The MLflow registry, with every loaded version copied to ``cache_dir``.

    Layout: ``<cache_dir>/<model name>/<version>/`` holds the forecaster folder and
    ``run.json``; ``<cache_dir>/<model name>/@<alias>.json`` names the version last loaded
    for the alias.

    Args:
        tracking_uri: The tracking server.
        alias: The alias served, e.g. ``champion``.
        cache_dir: The local cache.
    """

    def __init__(self, *, tracking_uri: str, alias: str, cache_dir: Path) -> None:
        self.tracking_uri = tracking_uri
        self.alias = alias
        self.cache_dir = cache_dir
        self._run_ids: dict[tuple[str, str], str] = {}

    def _client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri)

    def version(self, target: Target) -> str:
        """Ask the registry which version the alias names."""
        try:
            found = self._client().get_model_version_by_alias(target.model_name, self.alias)
        except MlflowException as exc:
            if _not_registered(exc):
                raise ModelNotRegisteredError(
                    f"no version of {target.model_name} has the alias {self.alias}"
                ) from exc
            raise
        version = str(found.version)
        self._run_ids[(target.model_name, version)] = str(found.run_id)
        return version

    def _folder(self, name: str, version: str) -> Path:
        return self.cache_dir / name / version

    def _pointer(self, name: str) -> Path:
        return self.cache_dir / name / f"@{self.alias}.json"

    def _download(self, name: str, version: str) -> None:
        """Copy the version's forecaster folder into the cache (renamed in place: atomic)."""
        folder = self._folder(name, version)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".download-") as tmp:
            # Resolved through our client: a models:/ URI would be looked up in MLflow's default
            # registry (MLFLOW_TRACKING_URI, else a local SQLite file), not ours.
            source = self._client().get_model_version_download_uri(name, version)
            local = Path(self._artifacts(source, Path(tmp) / "model"))
            flavor = Model.load(str(local)).flavors.get("python_function", {})
            artifact = (flavor.get("artifacts") or {}).get(FORECASTER_ARTIFACT)
            if not artifact:
                raise ValueError(f"{name} v{version} holds no Hourcast forecaster; retrain it")
            staged = Path(tmp) / "staged"
            staged.mkdir()
            shutil.copytree(local / artifact["path"], staged / FORECASTER_ARTIFACT)
            run_id = self._run_ids.get((name, version)) or str(
                self._client().get_model_version(name, version).run_id
            )
            (staged / "run.json").write_text(json.dumps({"run_id": run_id}))
            try:
                os.replace(staged, folder)
            except OSError:
                # Another worker process cached the same version first: use its copy.
                if not (folder / "run.json").exists():
                    raise

    def _artifacts(self, uri: str, destination: Path) -> str:
        import mlflow.artifacts

        destination.mkdir(parents=True)
        return str(
            mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(destination), tracking_uri=self.tracking_uri
            )
        )

    def _read(self, name: str, version: str) -> ServedModel:
        folder = self._folder(name, version)
        run_id = json.loads((folder / "run.json").read_text())["run_id"]
        forecaster = Forecaster.load(folder / FORECASTER_ARTIFACT)
        return ServedModel(name, version, str(run_id), self.alias, forecaster)

    def load(self, target: Target, version: str) -> ServedModel:
        """The version from the cache, downloaded first if missing; then the alias points to it."""
        name = target.model_name
        if not (self._folder(name, version) / "run.json").exists():
            self._download(name, version)
        model = self._read(name, version)
        pointer = self._pointer(name)
        handle, staged = tempfile.mkstemp(dir=pointer.parent, prefix=".pointer-")
        with os.fdopen(handle, "w") as file:
            json.dump({"version": version}, file)
        os.replace(staged, pointer)
        return model

    def cached(self, target: Target) -> ServedModel | None:
        """The version the alias pointed to when last loaded, from the cache."""
        pointer = self._pointer(target.model_name)
        if not pointer.exists():
            return None
        version = str(json.loads(pointer.read_text())["version"])
        return self._read(target.model_name, version)


@dataclass(frozen=True)
class LoadedModel:
    """A served version with its fast path (None if the model has none).

    Attributes:
        served: The registry version and its forecaster.
        predictor: The numpy serving path of the forecaster.
        source: Where it came from: ``registry`` or the local ``cache``.
    """

    served: ServedModel
    predictor: DirectPredictor | None
    source: ModelOrigin

    @property
    def name(self) -> str:
        """Registered model name."""
        return self.served.name

    @property
    def version(self) -> str:
        """Registry version."""
        return self.served.version

    @property
    def run_id(self) -> str:
        """MLflow run that logged it."""
        return self.served.run_id

    @property
    def forecaster(self) -> Forecaster:
        """The forecaster."""
        return self.served.forecaster

    @property
    def label(self) -> str:
        """How messages name it, e.g. ``hourcast-pm25 v3``."""
        return f"{self.name} v{self.version}"


def _booster_threads(forecaster: Forecaster) -> int:
    config = json.loads(forecaster.booster.save_config())
    return int(config["learner"]["generic_param"]["nthread"])


def _prepared(served: ServedModel, threads: int, source: ModelOrigin) -> LoadedModel:
    forecaster = served.forecaster
    # XGBoost's default is every core; with several workers that oversubscribes the machine.
    # Set only when it differs: set_param marks the booster for reconfiguration, and a
    # forecaster already serving (loaded again) would fail the predictions running meanwhile.
    if _booster_threads(forecaster) != threads:
        forecaster.booster.set_param({"nthread": threads})
    predictor = DirectPredictor(forecaster) if DirectPredictor.supports(forecaster) else None
    return LoadedModel(served, predictor, source)


class ModelSlot:
    """The model of one training target: what is served now and what the registry said.

    Attributes:
        target: The training target.
        model: The served model; replaced (never mutated) when a new version loads.
        state: ``loaded``, ``loading`` (registered but not loaded yet) or ``not_registered``.
        error: Why no model is loaded, worded for clients (no internal addresses).
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.model: LoadedModel | None = None
        self.state: SlotState = "loading"
        self.error: str | None = None

    @property
    def last_error(self) -> str | None:
        """Why no model is loaded (None once loaded)."""
        return None if self.model else self.error

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
    """One slot per served training target, kept in step with the registry.

    Args:
        targets: The served targets.
        source: The registry (or a :data:`Loader` standing in for it).
        poll_seconds: How often to ask the registry for the alias's version.
        retry_seconds: How often instead while a registered model is not loaded yet.
        threads: XGBoost threads of each loaded booster.
    """

    def __init__(
        self,
        targets: Sequence[Target],
        source: ModelSource | Loader,
        *,
        poll_seconds: float,
        retry_seconds: float,
        threads: int = 1,
    ) -> None:
        self.slots = {target.name: ModelSlot(target) for target in targets}
        self.source = source if isinstance(source, ModelSource) else LoaderSource(source)
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.threads = threads
        self.registry_status: RegistryStatus = "unknown"
        self.last_contact: datetime | None = None
        self._sync_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._series: dict[str, tuple[float, StoredSeries | None]] = {}

    @property
    def targets(self) -> list[Target]:
        """The served targets, in order."""
        return [slot.target for slot in self.slots.values()]

    # ----------------------------------------------------------------- registry
    def _sync_slot(self, slot: ModelSlot) -> bool:
        """Bring one slot in step with the registry; False if the registry did not answer."""
        name = slot.target.model_name
        try:
            version = self.source.version(slot.target)
        except ModelNotRegisteredError as exc:
            self._contact()
            if slot.model is None:
                slot.state, slot.error = "not_registered", str(exc)
            return True
        except Exception as exc:  # unreachable or failing registry: keep what is served
            log.warning("registry look-up of %s failed: %s: %s", name, type(exc).__name__, exc)
            if slot.model is None:
                self._load_cached(slot)
            return False
        self._contact()
        if slot.model is not None and slot.model.version == version:
            return True
        try:
            loaded = _prepared(self.source.load(slot.target, version), self.threads, "registry")
        except Exception as exc:  # a broken version must not take down the served one
            log.exception("loading %s v%s failed", name, version)
            if slot.model is None:
                slot.state = "loading"
                slot.error = (
                    f"loading {name} v{version} failed ({type(exc).__name__}); "
                    "the server log has the details"
                )
            return True
        previous = slot.model
        slot.model, slot.state, slot.error = loaded, "loaded", None  # the swap
        if previous is None:
            log.info("serving %s", loaded.label)
        else:
            log.info("serving %s instead of v%s", loaded.label, previous.version)
        return True

    def _load_cached(self, slot: ModelSlot) -> None:
        try:
            served = self.source.cached(slot.target)
        except Exception:
            log.exception("the cached copy of %s does not load", slot.target.model_name)
            served = None
        if served is None:
            slot.state = "loading"
            slot.error = "the model registry is unreachable and no copy is cached"
            return
        loaded = _prepared(served, self.threads, "cache")
        slot.model, slot.state, slot.error = loaded, "loaded", None
        log.warning("registry unreachable: serving the cached %s", loaded.label)

    def _contact(self) -> None:
        self.last_contact = datetime.now(UTC)

    def sync(self) -> None:
        """Ask the registry about every slot now and load what changed."""
        with self._sync_lock:
            answered = [self._sync_slot(slot) for slot in self.slots.values()]
            self.registry_status = "ok" if all(answered) else "degraded"

    def reload(self) -> list[ModelSlot]:
        """Sync now (``POST /v1/admin/reload``); returns the slots afterwards."""
        self.sync()
        return list(self.slots.values())

    def _interval(self) -> float:
        loading = any(slot.state == "loading" for slot in self.slots.values())
        return self.retry_seconds if loading else self.poll_seconds

    def _poll_loop(self) -> None:
        while not self._stop.wait(self._interval()):
            try:
                self.sync()
            except Exception:  # the poller must outlive any surprise
                log.exception("model poll failed")

    def start(self) -> None:
        """Sync once, then keep polling in a background thread."""
        self.sync()
        self._thread = threading.Thread(target=self._poll_loop, name="model-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()

    # ----------------------------------------------------------------- readiness
    @property
    def ready(self) -> bool:
        """Every target that has a registered version is served."""
        return all(slot.state != "loading" for slot in self.slots.values())

    # ----------------------------------------------------------------- routing
    def _fresh(self, series_id: str) -> tuple[StoredSeries | None] | None:
        """The cached description (itself None for a series the store lacks), if not stale."""
        hit = self._series.get(series_id)
        return (hit[1],) if hit is not None and hit[0] > time.monotonic() else None

    def _lookup(self, engine: Engine) -> Callable[[str], StoredSeries | None]:
        read = store_lookup(engine)

        def cached(series_id: str) -> StoredSeries | None:
            fresh = self._fresh(series_id)
            if fresh is not None:
                return fresh[0]
            found = read(series_id)
            self._series[series_id] = (time.monotonic() + _SERIES_TTL_SECONDS, found)
            return found

        return cached

    def routes_from_memory(self, series_id: str) -> bool:
        """Whether :meth:`route` answers ``series_id`` without a query (known or cached)."""
        return series_id in KNOWN_SERIES or self._fresh(series_id) is not None

    def route(self, series_id: str, *, engine: Engine) -> tuple[ModelSlot, StoredSeries]:
        """The slot whose model forecasts ``series_id``, and the series' description.

        Series descriptions are cached for 30 s (one query less per request).

        Raises:
            UnknownSeriesError: No served model measures the series; it names the known ones.
        """
        route = route_series(series_id, targets=self.targets, lookup=self._lookup(engine))
        if route is None:
            raise UnknownSeriesError(series_id, routable_series(engine, targets=self.targets))
        return self.slots[route.target.name], route.series
