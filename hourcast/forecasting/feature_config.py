"""Which features a forecaster builds: :class:`FeatureConfig`.

Kept apart from :mod:`hourcast.forecasting.features` (which builds them with pandas), so that
the presets and the targets table, and with them the command line, import without pandas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hourcast.forecasting.lag_transforms import (
    Lag,
    LagTransform,
    RollingMean,
    RollingStd,
    SeasonalRollingMean,
)

__all__ = ["FeatureConfig"]


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to build.

    Attributes:
        lags: Lags in hours (each >= 1).
        rolling_means: (lag, window) pairs: mean of ``window`` values ending at ``t - lag``.
        rolling_stds: (lag, window) pairs: standard deviation, likewise.
        seasonal_rolling_means: (lag, season_length, window_size) triples.
        timezone: IANA zone for calendar features of a series not in ``series_timezones``
            (and of every series of a model saved before per-series zones).
        series_timezones: IANA zone of each series of a global model, by series id: every
            series gets the calendar (hour, weekday, month, holidays, interval hour cells) of
            its own local time, whichever series it is trained with.
        holiday_calendar: Key for ``hourcast.forecasting.calendars.day_features``, or None.
        horizon: Direct block length: transforms with a lag below it are read at the origin,
            the others at the target hour (see the module docstring).
        known_future: Names of covariates known ahead (e.g. a weather *forecast*) that the
            caller supplies for history and forecast hours alike.
        extra: Free-form notes, kept with the model.
    """

    lags: tuple[int, ...] = (1, 2, 3, 24, 48, 168)
    rolling_means: tuple[tuple[int, int], ...] = ((1, 24), (24, 168))
    rolling_stds: tuple[tuple[int, int], ...] = ((1, 24),)
    seasonal_rolling_means: tuple[tuple[int, int, int], ...] = ()
    timezone: str = "UTC"
    series_timezones: dict[str, str] = field(default_factory=dict)
    holiday_calendar: str | None = None
    horizon: int = 24
    known_future: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError("horizon must be >= 1")
        self.transforms  # noqa: B018 -- validates lags and windows

    def timezone_of(self, series_id: str | None) -> str:
        """The calendar time zone of ``series_id`` (``timezone`` if unknown or None)."""
        if series_id is None:
            return self.timezone
        return self.series_timezones.get(series_id, self.timezone)

    def for_zone(self, timezone: str) -> FeatureConfig:
        """This configuration with the calendar of ``timezone`` for every series."""
        if timezone == self.timezone and not self.series_timezones:
            return self
        return replace(self, timezone=timezone, series_timezones={})

    @property
    def transforms(self) -> list[LagTransform]:
        """The lag transforms, in column order."""
        out: list[LagTransform] = [Lag(lag) for lag in self.lags]
        out += [RollingMean(lag, window) for lag, window in self.rolling_means]
        out += [RollingStd(lag, window) for lag, window in self.rolling_stds]
        out += [SeasonalRollingMean(*triple) for triple in self.seasonal_rolling_means]
        return out

    @property
    def origin_transforms(self) -> list[LagTransform]:
        """Transforms read at the origin in direct rows (``lag < horizon``)."""
        return [t for t in self.transforms if t.lag < self.horizon]

    @property
    def target_transforms(self) -> list[LagTransform]:
        """Transforms read at the target hour in direct rows (``lag >= horizon``)."""
        return [t for t in self.transforms if t.lag >= self.horizon]

    @property
    def lookback(self) -> int:
        """Hours of history one feature row needs."""
        return max(t.span for t in self.transforms)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(
            lags=tuple(data["lags"]),
            rolling_means=tuple(tuple(p) for p in data["rolling_means"]),
            rolling_stds=tuple(tuple(p) for p in data["rolling_stds"]),
            seasonal_rolling_means=tuple(tuple(p) for p in data.get("seasonal_rolling_means", ())),
            timezone=data["timezone"],
            series_timezones=dict(data.get("series_timezones") or {}),
            holiday_calendar=data.get("holiday_calendar"),
            horizon=int(data.get("horizon", 24)),
            known_future=tuple(data.get("known_future", ())),
            extra=dict(data.get("extra", {})),
        )
