# Rolling MAE of the version in use (forecasts served in the window, against the actuals),
# its backtest MAE, and the MAE above which the monitor starts a retraining.
run_time = df_1["run_time"]
mae = [df_1["rolling_mae"], df_1["backtest_mae"], df_1["retrain_above"]]
