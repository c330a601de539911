# Percent of actuals inside the 80 % and 95 % intervals of the served forecasts, and the targets.
run_time = df_1["run_time"]
coverage_pct = [df_1["coverage_80"], df_1["coverage_95"], [80] * len(df_1), [95] * len(df_1)]
