"""Plots of a training run's backtest, logged to MLflow under ``plots/``."""

from __future__ import annotations

import mlflow
import pandas as pd
import xgboost as xgb

__all__ = ["log_backtest_plots"]


def log_backtest_plots(frame: pd.DataFrame, booster: xgb.Booster) -> None:
    """Log the backtest's charts to the active MLflow run.

    Forecast against actuals over the last 7 origins of the first series, the residual
    histogram, and the booster's 20 most important features.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sid = str(frame["series_id"].iloc[0])
    last = frame[
        (frame["series_id"] == sid)
        & (frame["origin"] >= frame["origin"].max() - pd.Timedelta(days=6))
    ]
    figure, axis = plt.subplots(figsize=(12, 4), dpi=100)
    axis.plot(last["ts"], last["actual"], label="actual", lw=1.2)
    axis.plot(last["ts"], last["forecast"], label="forecast (24 h ahead)", lw=1.2)
    if "lo_80" in last:
        axis.fill_between(
            last["ts"], last["lo_80"], last["hi_80"], alpha=0.25, label="80% interval"
        )
    axis.set_title(f"{sid}: backtest, last 7 origins")
    axis.legend()
    figure.autofmt_xdate()
    mlflow.log_figure(figure, "plots/forecast_vs_actual.png")
    plt.close(figure)

    residuals = (frame["actual"] - frame["forecast"]).dropna()
    figure, axis = plt.subplots(figsize=(6, 4), dpi=100)
    axis.hist(residuals, bins=60)
    axis.set_title("backtest residuals (actual - forecast)")
    mlflow.log_figure(figure, "plots/residuals.png")
    plt.close(figure)

    gains = booster.get_score(importance_type="gain")
    top = sorted(gains.items(), key=lambda item: item[1])[-20:]
    figure, axis = plt.subplots(figsize=(7, 6), dpi=100)
    axis.barh([name for name, _ in top], [value for _, value in top])
    axis.set_title("feature importance (gain)")
    figure.tight_layout()
    mlflow.log_figure(figure, "plots/feature_importance.png")
    plt.close(figure)
