"""Training targets: what each registered model forecasts. The one table of model names.

A *target* is what one registered model forecasts, with the preset it is trained with:

- ``traffic``: the I-94 series, model ``hourcast-traffic-volume``;
- ``pm25``: one global model over every stored OpenAQ PM2.5 sensor, model ``hourcast-pm25``.

Training picks a target's series by source and parameter from the observation store, and
the API routes a series to the target that measures it by the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hourcast.forecasting.presets import AIR_QUALITY, TRAFFIC, Preset
from hourcast.series import TRAFFIC_I94, SeriesSpec

if TYPE_CHECKING:
    from hourcast.forecasting.forecaster import Forecaster

__all__ = ["PM25_TARGET", "TARGETS", "TRAFFIC_TARGET", "Target", "get_target"]


@dataclass(frozen=True)
class Target:
    """What one registered model forecasts.

    Attributes:
        name (str): Short name (``hourcast train <name>``, the Mage ``target`` variable).
        model_name (str): Registered MLflow model (and experiment) name.
        source (str): Source of the series it forecasts (``traffic``, ``openaq``).
        parameter (str): Measured quantity of those series.
        description (str): What it forecasts, for people (CLI help).
        preset (Preset): Features and booster settings it is trained with.
        series (SeriesSpec | None): The one series a per-series model is for; None for a
            global model over every stored series of ``source`` and ``parameter``.
    """

    name: str
    model_name: str
    source: str
    parameter: str
    description: str
    preset: Preset
    series: SeriesSpec | None = None

    def __post_init__(self) -> None:
        if self.series is not None and not self.measures(self.series.source, self.series.parameter):
            raise ValueError(f"target {self.name}: its series measures something else")

    @property
    def holiday_calendar(self) -> str | None:
        """The holiday calendar of its features (its series'), or None."""
        return self.series.holiday_calendar if self.series else None

    def measures(self, source: str, parameter: str) -> bool:
        """Whether a series of ``source`` and ``parameter`` belongs to this target."""
        return (self.source, self.parameter) == (source, parameter)

    def new_forecaster(
        self,
        *,
        timezone: str,
        series_timezones: Mapping[str, str] | None = None,
        num_boost_round: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> Forecaster:
        """An unfitted forecaster with the target's preset.

        Args:
            timezone (str): Time zone of the calendar features of a series without its own.
            series_timezones (Mapping[str, str] | None): Each series' own time zone, by id.
            num_boost_round (int | None): Trees; None keeps the preset's.
            params (dict | None): XGBoost parameters over the preset's (e.g. from tuning).
        """
        overrides: dict[str, Any] = {}
        if num_boost_round:
            overrides["num_boost_round"] = int(num_boost_round)
        if params:
            overrides["params"] = {**self.preset.params, **params}
        return self.preset.forecaster(
            timezone=timezone,
            holiday_calendar=self.holiday_calendar,
            series_timezones=series_timezones,
            **overrides,
        )


TRAFFIC_TARGET = Target(
    name="traffic",
    model_name="hourcast-traffic-volume",
    source="traffic",
    parameter="traffic_volume",
    description="hourly westbound traffic volume on I-94 (Minneapolis-St Paul)",
    preset=TRAFFIC,
    series=TRAFFIC_I94,
)
PM25_TARGET = Target(
    name="pm25",
    model_name="hourcast-pm25",
    source="openaq",
    parameter="pm25",
    description="hourly PM2.5, one global model over every stored OpenAQ PM2.5 sensor",
    preset=AIR_QUALITY,
)
TARGETS: dict[str, Target] = {t.name: t for t in (TRAFFIC_TARGET, PM25_TARGET)}


def get_target(name: str) -> Target:
    """The target called ``name``.

    Raises:
        ValueError: Unknown target; the message lists the known ones.
    """
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None
