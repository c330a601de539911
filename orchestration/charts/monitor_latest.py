from hourcast.monitoring.charts import latest_table

# This run, one row per target: the figures, and the retraining decision with its reason.
table = latest_table(df_1)
header = table.columns
rows = table.to_numpy()
