from hourcast.training.backtest_report import metrics_table

# The run's metrics as logged to MLflow (holdout_* are scored on the backtest window).
table = metrics_table(df_1["metrics"])
header = table.columns
rows = table.to_numpy()
