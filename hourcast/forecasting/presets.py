"""Presets: the features and booster settings each kind of series is trained with.

Chosen on the 84 daily origins *before* the benchmark window (and the same season a year
earlier), never on the benchmark window itself; see ``scripts/benchmark_accuracy.py``.

- ``TRAFFIC``: strongly weekly and holiday-driven. Same-hour lags up to four weeks back and
  their seasonal means carry most of the signal; the holiday calendar does the rest.
- ``AIR_QUALITY`` (PM2.5 and other pollutants): persistent episodes, weak weekly cycle.
  Short lags and trailing means over 6 h to a week; shallower trees with larger leaves,
  because the target is noisy and a deep model overfits it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hourcast.forecasting.booster_params import DEFAULT_PARAMS
from hourcast.forecasting.feature_config import FeatureConfig

if TYPE_CHECKING:
    from hourcast.forecasting.forecaster import Forecaster

__all__ = ["AIR_QUALITY", "PRESETS", "TRAFFIC", "Preset", "preset_for"]


@dataclass(frozen=True)
class Preset:
    """Features, booster parameters and number of trees for one kind of series.

    Attributes:
        name: Preset key.
        config: Feature configuration (time zone and holiday calendar are per series).
        params: XGBoost parameters.
        num_boost_round: Number of trees.
    """

    name: str
    config: FeatureConfig
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    num_boost_round: int = 600

    def feature_config(
        self,
        *,
        timezone: str,
        holiday_calendar: str | None,
        series_timezones: Mapping[str, str] | None = None,
    ) -> FeatureConfig:
        """The preset's features in the series' time zones and holiday calendar.

        Args:
            timezone: Zone of a series not in ``series_timezones``.
            holiday_calendar: Holiday calendar key, or None.
            series_timezones: Zone of each series by id (a global model). Defaults to None.
        """
        return dataclasses.replace(
            self.config,
            timezone=timezone,
            series_timezones=dict(series_timezones or {}),
            holiday_calendar=holiday_calendar,
        )

    def forecaster(
        self,
        *,
        timezone: str,
        holiday_calendar: str | None = None,
        series_timezones: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Forecaster:
        """An unfitted forecaster with this preset; ``overrides`` go to ``Forecaster``."""
        # Imported here: XGBoost loads only when a forecaster is built.
        from hourcast.forecasting.forecaster import Forecaster

        kwargs: dict[str, Any] = {
            "params": dict(self.params),
            "num_boost_round": self.num_boost_round,
            **overrides,
        }
        config = self.feature_config(
            timezone=timezone, holiday_calendar=holiday_calendar, series_timezones=series_timezones
        )
        return Forecaster(config, **kwargs)


TRAFFIC = Preset(
    name="traffic",
    config=FeatureConfig(
        lags=(1, 2, 3, 24, 48, 72, 96, 120, 144, 168, 336, 504, 672),
        rolling_means=((1, 24), (24, 168)),
        rolling_stds=((1, 24),),
        seasonal_rolling_means=((24, 24, 7), (168, 168, 4), (168, 168, 8)),
    ),
    params=dict(DEFAULT_PARAMS),
    num_boost_round=600,
)

AIR_QUALITY = Preset(
    name="air_quality",
    config=FeatureConfig(
        lags=(1, 2, 3, 4, 5, 6, 12, 24, 48, 72, 168),
        rolling_means=((1, 6), (1, 24), (1, 72), (1, 168)),
        rolling_stds=((1, 24),),
        seasonal_rolling_means=((24, 24, 7),),
    ),
    params={**DEFAULT_PARAMS, "max_depth": 6, "min_child_weight": 20},
    num_boost_round=300,
)

PRESETS: dict[str, Preset] = {p.name: p for p in (TRAFFIC, AIR_QUALITY)}


def preset_for(source: str) -> Preset:
    """The preset for a data source: ``traffic`` or ``openaq`` (air quality).

    Raises:
        ValueError: Unknown source.
    """
    if source == "traffic":
        return TRAFFIC
    if source in ("openaq", "air_quality", "pm25"):
        return AIR_QUALITY
    raise ValueError(f"no preset for source {source!r}; known: traffic, openaq")
