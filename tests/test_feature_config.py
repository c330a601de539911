"""FeatureConfig: validation, transforms by where direct rows read them, the JSON round trip."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hourcast.forecasting.feature_config import FeatureConfig

CONFIG = FeatureConfig(seasonal_rolling_means=((168, 168, 2),))


def test_config_validates_and_round_trips() -> None:
    with pytest.raises(ValueError, match="lag"):
        FeatureConfig(lags=(0, 1))
    with pytest.raises(ValueError, match="window"):
        FeatureConfig(rolling_means=((1, 1),))
    with pytest.raises(ValueError, match="horizon"):
        FeatureConfig(horizon=0)
    assert CONFIG.lookback == 168 + 168  # seasonal mean 168x2 at lag 168
    assert FeatureConfig.from_dict(CONFIG.to_dict()) == CONFIG


def test_transforms_split_at_the_horizon() -> None:
    assert [t.name for t in CONFIG.origin_transforms] == [
        "lag_1",
        "lag_2",
        "lag_3",
        "rolling_mean_24_lag_1",
        "rolling_std_24_lag_1",
    ]
    assert all(t.lag >= CONFIG.horizon for t in CONFIG.target_transforms)
    assert len(CONFIG.origin_transforms) + len(CONFIG.target_transforms) == len(CONFIG.transforms)


def test_each_series_gets_its_own_zone() -> None:
    config = FeatureConfig(timezone="UTC", series_timezones={"a": "Asia/Shanghai"})
    assert config.timezone_of("a") == "Asia/Shanghai"
    assert config.timezone_of("b") == "UTC"
    assert config.timezone_of(None) == "UTC"
    assert config.for_zone("America/Chicago").timezone_of("a") == "America/Chicago"


def test_the_command_line_starts_without_pandas() -> None:
    # The targets table needs the configuration, not the feature builder: `hourcast --help`
    # and the commands that need no data start without importing pandas (seconds here).
    code = "import sys, hourcast.cli.main; print('pandas' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
