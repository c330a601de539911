"""Forecasting: features, calendars, the forecaster and its conformal intervals, baselines, scoring.

Nothing here knows about MLflow, the observation store or the command line. The package
imports nothing itself, so that reading a preset does not load XGBoost; import the forecaster
from ``hourcast.forecasting.forecaster``.
"""
