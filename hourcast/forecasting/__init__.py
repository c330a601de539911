"""Forecasting: features, calendars, the forecaster and its conformal intervals, baselines, scoring.

Nothing here knows about MLflow, the observation store or the command line.
"""

from hourcast.forecasting.features import FeatureConfig
from hourcast.forecasting.forecaster import Forecaster, NotFittedError

__all__ = ["FeatureConfig", "Forecaster", "NotFittedError"]
