"""Training on Dask (hourcast.training.dask_training) against the single-process path.

A real two-worker ``LocalCluster`` trains a global model on six PM2.5 series (the real Beijing
series, shifted) in three time zones.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from distributed import Client, LocalCluster

from hourcast.forecasting.engine import booster_trainer
from hourcast.forecasting.forecaster import Forecaster
from hourcast.settings import Settings
from hourcast.targets import PM25_TARGET
from hourcast.training.backtest import backtest_forecaster, daily_origins
from hourcast.training.dask_training import (
    LABEL,
    DaskTrainer,
    _long_frame,
    _partition_rows,
    _PartitionRows,
    dask_training_rows,
    partition_series,
    training_backend,
)
from hourcast_dev.openaq_fake import DATA_DIR

BEIJING_CSV = DATA_DIR / "beijing_pm25" / "PRSA_data_2010.1.1-2014.10.8.csv"
ZONES = ("Asia/Shanghai", "America/Los_Angeles", "Europe/Berlin")
HOLDOUT_DAYS = 7


def _beijing() -> pd.Series:
    raw = pd.read_csv(BEIJING_CSV, usecols=["year", "month", "day", "hour", "pm2.5"])
    local = pd.to_datetime(raw[["year", "month", "day", "hour"]])
    index = pd.DatetimeIndex(local).tz_localize("Asia/Shanghai").tz_convert("UTC")
    return pd.Series(raw["pm2.5"].to_numpy(float), index=index)


@pytest.fixture(scope="module")
def series_map() -> dict[str, pd.Series]:
    """Eight sensors: stretches of the real series with their own scale, noise and length."""
    real = _beijing().to_numpy()
    rng = np.random.default_rng(13)
    out = {}
    for number in range(8):
        hours = 24 * (56 + number)  # unequal lengths
        start = int(rng.integers(0, len(real) - hours)) // 24 * 24
        values = real[start : start + hours] * rng.uniform(0.3, 2.0)
        values = np.abs(values + rng.normal(0.0, 0.05 * np.nanmean(values), hours))
        index = pd.date_range("2024-01-01", periods=hours, freq="h", tz="UTC")
        out[f"openaq:{ZONES[number % 3]}:{number}"] = pd.Series(values, index=index)
    return out


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """Two workers, one thread each, in this process (worker processes take ~10 s to import
    hourcast; what they would receive is checked to pickle in
    test_what_the_workers_receive_pickles)."""
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


ROUNDS = 100
# Row and column sampling draw from other random streams on the workers than in one process,
# which on a training set this small moves the holdout MAE by a few percent either way. The
# comparison switches sampling off, so what remains is the path itself (rows built per
# partition, each worker's share of the sketch and of the absolute-error leaf quantiles);
# scripts/benchmark_scale.py compares the paths with the preset's sampling on 1,000 sensors.
NO_SAMPLING = {"subsample": 1.0, "colsample_bytree": 1.0}


def _forecaster(timezone: str = "UTC") -> Forecaster:
    return PM25_TARGET.preset.forecaster(
        timezone=timezone,
        num_boost_round=ROUNDS,
        calibration_days=0,
        params={**PM25_TARGET.preset.params, **NO_SAMPLING},
    )


def test_partitions_hold_whole_series_in_order() -> None:
    sizes = {"a": 10, "b": 300, "c": 20, "d": 20, "e": 250, "f": 5}
    groups = partition_series(sizes, 3)
    assert [name for group in groups for name in group] == list(sizes)
    assert 1 < len(groups) <= 3
    assert partition_series(sizes, 1) == [list(sizes)]
    assert len(partition_series(sizes, 99)) <= len(sizes)
    with pytest.raises(ValueError, match="partitions"):
        partition_series(sizes, 0)


def test_rows_built_per_partition_equal_each_series_alone(
    client: Client, series_map: dict[str, pd.Series]
) -> None:
    """No feature crosses series: partitioned rows are those of every series on its own."""
    engine = _forecaster()._engine
    codes = {name: code for code, name in enumerate(sorted(series_map))}
    covariates = dict.fromkeys(series_map)
    rows = dask_training_rows(client, engine, series_map, covariates, codes, seed=7, partitions=3)
    assert rows.npartitions == 3
    built = rows.compute()
    alone = [
        np.column_stack(
            engine.series_training_rows(name, series, covariates, codes, number=number, seed=7)
        )
        for number, (name, series) in enumerate(series_map.items())
    ]
    expected = np.vstack(alone).astype(np.float32)
    assert list(built.columns) == [*engine.feature_names, LABEL]
    np.testing.assert_array_equal(built.to_numpy(), expected)
    # Each series' code is one contiguous block: the rows of two series never mix.
    code_column = built["series_code"].to_numpy()
    assert (np.diff(code_column) != 0).sum() == len(series_map) - 1


def test_what_the_workers_receive_pickles(series_map: dict[str, pd.Series]) -> None:
    engine = _forecaster()._engine
    codes = {name: code for code, name in enumerate(sorted(series_map))}
    build = _PartitionRows(engine, dict.fromkeys(series_map), codes, codes, seed=7)
    part = _long_frame(series_map, list(series_map)[:2])
    copy = pickle.loads(pickle.dumps(build))
    pd.testing.assert_frame_equal(_partition_rows(part, copy), _partition_rows(part, build))


def _holdout_mae(forecaster: Forecaster, series_map: dict[str, pd.Series]) -> float:
    longest = max(series_map.values(), key=len)
    origins = daily_origins(pd.DatetimeIndex(longest.index), timezone="UTC", n_origins=HOLDOUT_DAYS)
    training = {name: s[s.index < origins[0]] for name, s in series_map.items()}
    forecaster.fit(training)
    frame = backtest_forecaster(forecaster, series_map, origins, fit=False).dropna()
    return float((frame["forecast"] - frame["actual"]).abs().mean())


@pytest.mark.slow
def test_dask_model_matches_single_process_within_two_percent(
    client: Client, series_map: dict[str, pd.Series], tmp_path: Path
) -> None:
    single = _forecaster()
    single_mae = _holdout_mae(single, series_map)
    on_dask = _forecaster()
    with booster_trainer(DaskTrainer(client)):
        dask_mae = _holdout_mae(on_dask, series_map)
    assert isinstance(on_dask.booster, xgb.Booster)
    assert on_dask.booster.num_boosted_rounds() == ROUNDS
    assert abs(dask_mae - single_mae) / single_mae < 0.02, (single_mae, dask_mae)
    # The registered artefact is an ordinary forecaster: it saves and loads as today.
    loaded = Forecaster.load(on_dask.save(tmp_path / "model"))
    history = next(iter(series_map.values()))
    name = next(iter(series_map))
    np.testing.assert_allclose(
        loaded.predict(history, 24, series_id=name),
        on_dask.predict(history, 24, series_id=name),
    )


def test_backend_keeps_small_data_single_process_and_uses_the_scheduler(
    client: Client, series_map: dict[str, pd.Series]
) -> None:
    frame = pd.concat(
        pd.DataFrame({"series_id": name, "ts": s.index, "value": s.to_numpy()})
        for name, s in series_map.items()
    )
    rows = 4 * int(frame["value"].notna().sum())
    address = client.scheduler.address
    small = Settings(dask_min_rows=rows + 1, dask_scheduler=address)
    with training_backend(frame, settings=small, target="pm25") as path:
        assert path == "single-process"
    large = Settings(dask_min_rows=rows, dask_scheduler=address)
    before = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)
    with training_backend(frame, settings=large, target="pm25") as path:
        assert path == "dask"
        forecaster = _forecaster(timezone="UTC").clone(num_boost_round=5)
        forecaster.fit(series_map)
    after = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)
    assert after > before, "the fit did not run on the configured scheduler"
    assert forecaster.booster.num_boosted_rounds() == 5
