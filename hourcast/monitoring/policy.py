"""When the monitor retrains: accuracy degraded past the backtest, or the inputs drifted.

Retraining is due for a target when the rolling MAE of the version in use exceeds
``mae_ratio`` times that version's backtest MAE (the holdout MAE its training run logged), or
when the PSI of a series it forecasts exceeds ``psi_threshold``. Too few scored hours are not
judged. A due retraining starts at most once per ``cooldown``: a training run takes a while to
reach the API, and the monitor runs every hour meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hourcast.settings import Settings

__all__ = ["Assessment", "RetrainPolicy", "assess", "cooldown_until"]


@dataclass(frozen=True)
class RetrainPolicy:
    """The limits the monitor decides with (``HOURCAST_MONITOR_*`` settings).

    Attributes:
        mae_ratio (float): Rolling MAE over backtest MAE above which retraining is due.
        psi_threshold (float): PSI of a series above which retraining is due.
        cooldown (timedelta): Least time between two retrainings the monitor starts.
        min_hours (int): Fewest scored forecast hours (or recent hours, for PSI) judged.
    """

    mae_ratio: float = 1.5
    psi_threshold: float = 0.25
    cooldown: timedelta = timedelta(hours=24)
    min_hours: int = 24

    def __post_init__(self) -> None:
        if self.mae_ratio <= 0 or self.psi_threshold <= 0 or self.min_hours < 1:
            raise ValueError("mae_ratio and psi_threshold must be positive, min_hours >= 1")
        if self.cooldown < timedelta(0):
            raise ValueError("cooldown must not be negative")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrainPolicy:
        """The policy of the ``monitor_*`` settings."""
        return cls(
            mae_ratio=settings.monitor_mae_ratio,
            psi_threshold=settings.monitor_psi_threshold,
            cooldown=timedelta(hours=settings.monitor_cooldown_hours),
            min_hours=settings.monitor_min_hours,
        )


@dataclass(frozen=True)
class Assessment:
    """Whether retraining is due, why, and the figures it was decided on."""

    due: bool
    reasons: tuple[str, ...]
    figures: dict[str, Any] = field(default_factory=dict)
    unjudged: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """The reasons as one sentence per line; without any, what was within the limits."""
        if self.reasons:
            return "\n".join(self.reasons)
        return "; ".join(("within the limits", *self.unjudged))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def assess(
    policy: RetrainPolicy,
    *,
    rolling_mae: float | None,
    scored_hours: int,
    backtest_mae: float | None,
    psi_by_series: Mapping[str, tuple[float, int]],
) -> Assessment:
    """Decide whether a target's version in use needs retraining.

    Args:
        policy (RetrainPolicy): The limits.
        rolling_mae (float | None): Its MAE over the window's scored hours.
        scored_hours (int): How many forecast hours had an actual.
        backtest_mae (float | None): The holdout MAE of its training run; None if unknown
            (then accuracy is not judged).
        psi_by_series (Mapping[str, tuple[float, int]]): PSI and recent hours by series.

    Returns:
        Assessment: ``due`` with a reason per limit passed; ``figures`` holds every input and
        limit, also when nothing was due.
    """
    reasons, unjudged = [], []
    ratio = None
    if _finite(rolling_mae) and _finite(backtest_mae) and backtest_mae and backtest_mae > 0:
        ratio = float(rolling_mae) / backtest_mae  # type: ignore[arg-type]
    if not scored_hours:
        unjudged.append("accuracy not judged: no forecast hour has an actual yet")
    elif ratio is None:
        unjudged.append("accuracy not judged: the version's backtest MAE is unknown")
    elif scored_hours < policy.min_hours:
        unjudged.append(
            f"accuracy not judged: {scored_hours} scored hours (needs {policy.min_hours})"
        )
    if ratio is not None and scored_hours >= policy.min_hours and ratio > policy.mae_ratio:
        reasons.append(
            f"rolling MAE {rolling_mae:.4g} over {scored_hours} forecast hours is "
            f"{ratio:.2f}x the backtest MAE {backtest_mae:.4g} (limit {policy.mae_ratio:g}x)"
        )
    judged = {
        sid: value
        for sid, (value, hours) in psi_by_series.items()
        if _finite(value) and hours >= policy.min_hours
    }
    unjudged += [f"drift not judged for {sid}" for sid in sorted(psi_by_series.keys() - judged)]
    for sid, value in sorted(judged.items()):
        if value > policy.psi_threshold:
            reasons.append(
                f"input drift: PSI {value:.3f} of {sid} (recent values against the training "
                f"window) is above {policy.psi_threshold:g}"
            )
    figures = {
        "rolling_mae": rolling_mae if _finite(rolling_mae) else None,
        "scored_hours": scored_hours,
        "backtest_mae": backtest_mae if _finite(backtest_mae) else None,
        "mae_ratio": ratio,
        "mae_ratio_limit": policy.mae_ratio,
        "psi": dict(sorted(judged.items())),
        "psi_threshold": policy.psi_threshold,
        "min_hours": policy.min_hours,
        "cooldown_hours": policy.cooldown / timedelta(hours=1),
    }
    return Assessment(bool(reasons), tuple(reasons), figures, tuple(unjudged))


def cooldown_until(
    policy: RetrainPolicy, last_started: datetime | None, now: datetime
) -> datetime | None:
    """When the cooldown after the last started retraining ends, or None if it is over."""
    if last_started is None:
        return None
    ends = last_started + policy.cooldown
    return ends if now < ends else None
