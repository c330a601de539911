"""Training on Dask: the same training rows, built per partition of whole series, trained there.

The direct multi-horizon training set has ``steps_per_hour`` rows per observed hour (4 by
default), so it outgrows one task long before the observations do: 1,000 sensors x 1 year is
8.8 million hours (70 MB of values) but 35 million rows of 23 features (3.2 GB as float32).
This module keeps the small part, the series, in the calling process and builds the large
part, the rows, on the workers:

- the series are cut into partitions of whole series (:func:`partition_series`), so no
  feature ever mixes two series;
- each partition's rows come from the forecaster's own code,
  :meth:`~hourcast.forecasting.engine.Engine.series_training_rows`, through
  ``map_partitions`` (the same rows, seeds included, as the single-process path);
- the booster trains with ``xgboost.dask.train`` on a ``DaskQuantileDMatrix`` and comes back
  as an ordinary ``xgboost.Booster`` inside the usual ``Forecaster``, so registration and the
  API do not change.

:func:`training_backend` chooses the path: training sets below ``settings.dask_min_rows``
stay single-process; larger ones train on the cluster at ``settings.dask_scheduler``, or on a
``LocalCluster`` sized to the machine when that is unset. Within it, every booster a fit
trains (the backtest model, the calibration model, the refit) goes to the cluster through the
engine's :func:`~hourcast.forecasting.engine.booster_trainer` hook.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import dask.dataframe as dd
import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb
from distributed import Client, LocalCluster
from xgboost import dask as dxgb

from hourcast.forecasting.engine import Engine, booster_trainer
from hourcast.settings import Settings
from hourcast.targets import get_target

__all__ = [
    "LABEL",
    "DaskTrainer",
    "TrainingPath",
    "dask_client",
    "dask_training_rows",
    "partition_series",
    "training_backend",
    "training_row_count",
]

log = logging.getLogger(__name__)

LABEL = "label"
"""Column of the (encoded) target in the rows built on the workers."""
SERIES = "series_id"
TrainingPath = Literal["single-process", "dask"]
# Parameters that would override the threads Dask gives each worker.
_THREAD_PARAMS = ("nthread", "n_jobs")
# About 2 million rows (~180 MB of float32 features) per partition: small enough that a
# worker builds several side by side, large enough that per-task overhead does not matter.
_ROWS_PER_PARTITION = 2_000_000


def training_row_count(observed_hours: int, *, strategy: str, steps_per_hour: int) -> int:
    """Rows a fit builds from ``observed_hours`` target hours (direct: ``steps_per_hour`` each)."""
    return observed_hours * (steps_per_hour if strategy == "direct" else 1)


def partition_series(sizes: Mapping[str, int], partitions: int) -> list[list[str]]:
    """Cut series into at most ``partitions`` groups of whole series with similar row counts.

    Args:
        sizes: Rows (or hours) of each series, in training order.
        partitions: Wanted number of groups (>= 1).

    Returns:
        list[list[str]]: Non-empty groups in the order of ``sizes``; every series in exactly one.
    """
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    total = sum(sizes.values())
    target = total / partitions if total else 1.0
    groups: list[list[str]] = [[]]
    filled = 0
    for name, size in sizes.items():
        if groups[-1] and filled + size / 2 > target * len(groups) and len(groups) < partitions:
            groups.append([])
        groups[-1].append(name)
        filled += size
    return [g for g in groups if g]


@dataclass(frozen=True)
class _PartitionRows:
    """Builds the training rows of one partition (a long frame of whole series) on a worker."""

    engine: Engine
    covariates: Mapping[str, pd.DataFrame | None]
    codes: Mapping[str, int]
    numbers: Mapping[str, int]
    seed: int

    def __call__(self, part: pd.DataFrame) -> pd.DataFrame:
        columns = [*self.engine.feature_names, LABEL]
        frames = []
        for name, group in part.groupby(SERIES, sort=False):
            series = pd.Series(group["value"].to_numpy(float), index=pd.DatetimeIndex(group["ts"]))
            matrix, label = self.engine.series_training_rows(
                str(name),
                series,
                self.covariates,
                self.codes,
                number=self.numbers[str(name)],
                seed=self.seed,
            )
            # float32: what XGBoost stores anyway; halves the workers' memory.
            block = np.column_stack([matrix, label]).astype(np.float32)
            frames.append(pd.DataFrame(block, columns=columns))
        if not frames:
            return _empty_rows(columns)
        return pd.concat(frames, ignore_index=True)


def _partition_rows(part: pd.DataFrame, build: _PartitionRows) -> pd.DataFrame:
    """The training rows of one partition (named function: Dask names tasks after it)."""
    return build(part)


def _utc_naive(index: pd.Index) -> npt.NDArray[np.datetime64]:
    return pd.DatetimeIndex(index).tz_convert("UTC").tz_localize(None).to_numpy()


def _long_frame(series_map: Mapping[str, pd.Series], names: Sequence[str]) -> pd.DataFrame:
    """``series_id``, ``ts`` (UTC) and ``value`` of the named series, one after another."""
    index = pd.DatetimeIndex(np.concatenate([_utc_naive(series_map[n].index) for n in names]))
    return pd.DataFrame(
        {
            SERIES: np.repeat(np.array(names, dtype=object), [len(series_map[n]) for n in names]),
            "ts": index.tz_localize("UTC"),
            "value": np.concatenate([series_map[n].to_numpy(float) for n in names]),
        }
    )


def _empty_rows(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=np.float32) for c in columns})


def dask_training_rows(
    client: Client,
    engine: Engine,
    series_map: Mapping[str, pd.Series],
    covariates: Mapping[str, pd.DataFrame | None],
    codes: Mapping[str, int],
    *,
    seed: int,
    partitions: int | None = None,
) -> dd.DataFrame:
    """The training rows of every series as a Dask frame, one partition per group of series.

    Row for row the same as the single-process path (:meth:`Engine.train`): each series keeps
    its position in ``series_map`` (its seed) and its code.

    Args:
        client: The cluster's client; the series are scattered to its workers.
        engine: The forecaster's engine (features, strategy, transform).
        series_map: Regular hourly series by name, in training order.
        covariates: Known-future covariates by series name (or None).
        codes: Series code of each name.
        seed: The booster's seed (``params["seed"]``).
        partitions: Groups of series; defaults to about 2 million rows each, at least two per
            worker.

    Returns:
        dd.DataFrame: Columns ``engine.feature_names`` then ``label``, float32.
    """
    sizes = {name: int(s.notna().sum()) for name, s in series_map.items()}
    if partitions is None:
        total = training_row_count(
            sum(sizes.values()), strategy=engine.strategy, steps_per_hour=engine.steps_per_hour
        )
        workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        partitions = max(2 * workers, math.ceil(total / _ROWS_PER_PARTITION))
    groups = partition_series(sizes, min(partitions, len(series_map)))
    chunks = [_long_frame(series_map, group) for group in groups]
    futures = client.scatter(chunks)  # type: ignore[no-untyped-call]
    long = dd.from_delayed(futures, meta=chunks[0].iloc[:0], verify_meta=False)
    build = _PartitionRows(
        engine=engine,
        covariates=dict(covariates),
        codes=dict(codes),
        numbers={name: number for number, name in enumerate(series_map)},
        seed=seed,
    )
    meta = _empty_rows([*engine.feature_names, LABEL])
    rows: dd.DataFrame = long.map_partitions(
        _partition_rows, build, meta=meta, enforce_metadata=False
    )
    return rows


@dataclass(frozen=True)
class DaskTrainer:
    """A :class:`~hourcast.forecasting.engine.BoosterTrainer` that trains with ``xgboost.dask``.

    Args:
        client (Client): The cluster to train on.
        partitions (int | None): Groups of series; see :func:`dask_training_rows`.
    """

    client: Client
    partitions: int | None = None

    def __call__(
        self,
        engine: Engine,
        series_map: Mapping[str, pd.Series],
        covariates: Mapping[str, pd.DataFrame | None],
        codes: Mapping[str, int],
        *,
        params: dict[str, Any],
        num_boost_round: int,
    ) -> xgb.Booster:
        """Build the rows on the workers and train the booster there."""
        seed = int(params.get("seed", 0))
        rows = dask_training_rows(
            self.client,
            engine,
            series_map,
            covariates,
            codes,
            seed=seed,
            partitions=self.partitions,
        )
        # Features and label in one computation: each partition's rows are built once (two
        # separate persists would build them twice), then dropped.
        features, label = self.client.persist(  # type: ignore[no-untyped-call]
            [rows[list(engine.feature_names)], rows[LABEL]]
        )
        dtrain = dxgb.DaskQuantileDMatrix(
            self.client,
            features,
            label,
            feature_names=list(engine.feature_names),
            max_bin=int(params.get("max_bin", 256)),
        )
        # Each worker trains with the threads Dask gives it.
        cluster_params = {k: v for k, v in params.items() if k not in _THREAD_PARAMS}
        output = dxgb.train(self.client, cluster_params, dtrain, num_boost_round=num_boost_round)
        booster: xgb.Booster = output["booster"]
        return booster


@contextmanager
def dask_client(settings: Settings) -> Iterator[Client]:
    """A client of ``settings.dask_scheduler``, or of a ``LocalCluster`` sized to the machine.

    The local cluster (one worker process per core group, memory split between them, as
    ``LocalCluster`` sizes it by default) lives as long as the block.
    """
    if settings.dask_scheduler:
        with Client(settings.dask_scheduler) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    with (
        LocalCluster(dashboard_address=":0") as cluster,  # type: ignore[no-untyped-call]
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


@contextmanager
def training_backend(
    frame: pd.DataFrame, *, settings: Settings, target: str = "traffic"
) -> Iterator[TrainingPath]:
    """Within the block, fits train on Dask if the training set is large enough.

    Args:
        frame: The prepared training frame (``value`` NaN where not observed).
        settings: ``dask_min_rows`` and ``dask_scheduler``.
        target: The target trained (its preset gives the rows per observed hour).

    Yields:
        str: The path taken, ``single-process`` or ``dask``.
    """
    goal = get_target(target)
    probe = goal.preset.forecaster(timezone="UTC")
    rows = training_row_count(
        int(frame["value"].notna().sum()),
        strategy=probe.strategy,
        steps_per_hour=probe.steps_per_hour,
    )
    if rows < settings.dask_min_rows:
        log.info(
            "training single-process: %d rows < dask_min_rows %d", rows, settings.dask_min_rows
        )
        yield "single-process"
        return
    with dask_client(settings) as client:
        log.info("training on Dask (%s): %d rows", client.dashboard_link, rows)
        with booster_trainer(DaskTrainer(client)):
            yield "dask"
