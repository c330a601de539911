"""The MLflow pyfunc of a forecaster, logged as code (MLflow's "models from code").

MLflow stores a copy of this file with each model and runs it to load the model, so a
registered model needs only ``hourcast.forecasting`` (the front class and its storage format),
not the module this file lives in; nothing is pickled. Input: the history (``ts``, ``value``);
params ``horizon`` and ``series_id`` (required by a global model); output: ``ts``, ``value``
and, when the model has intervals, ``lo_<level>`` / ``hi_<level>`` per level.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from hourcast.forecasting.forecaster import Forecaster

__all__ = ["FORECASTER_ARTIFACT", "ForecasterModel", "forecast_frame", "history_frame_to_series"]

FORECASTER_ARTIFACT = "forecaster"
"""Name of the artifact holding the forecaster folder (``Forecaster.save``)."""


def history_frame_to_series(frame: pd.DataFrame) -> pd.Series:
    """``ts``/``value`` columns (ISO strings or datetimes; naive means UTC) to a UTC series."""
    index = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True))
    return pd.Series(frame["value"].astype(float).to_numpy(), index=index)


def forecast_frame(
    forecaster: Forecaster, history: pd.Series, horizon: int, *, series_id: str | None = None
) -> pd.DataFrame:
    """The pyfunc output: ISO ``ts``, ``value`` and every calibrated interval level."""
    levels = forecaster.interval_levels
    frame = forecaster.predict_intervals(history, horizon, levels, series_id=series_id)
    out = frame.reset_index(drop=True)
    out.insert(0, "ts", [ts.isoformat() for ts in frame.index])
    return out


class ForecasterModel(PythonModel):
    """The pyfunc: forecasts the hours after the history it is given."""

    forecaster: Forecaster

    def load_context(self, context: Any) -> None:
        """Read the forecaster folder stored with the model."""
        self.forecaster = Forecaster.load(context.artifacts[FORECASTER_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecast ``params["horizon"]`` hours (24) after ``model_input``."""
        params = params or {}
        return forecast_frame(
            self.forecaster,
            history_frame_to_series(model_input),
            int(params.get("horizon", 24)),
            series_id=params.get("series_id") or None,
        )


mlflow.models.set_model(ForecasterModel())
