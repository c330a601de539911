from hourcast.training.backtest_report import step_metrics

# MAE per horizon step over every series and origin: the model against the seasonal naives.
steps = step_metrics(df_1)
horizon_step = steps["step"]
mae = [steps["mae"], steps["seasonal_naive_24_mae"], steps["seasonal_naive_168_mae"]]
