from hourcast.training.backtest_report import step_metrics

# Percent of actuals inside the 80 % and 95 % intervals per horizon step, and the targets.
steps = step_metrics(df_1)
horizon_step = steps["step"]
coverage_pct = [steps["coverage_80"], steps["coverage_95"], [80] * len(steps), [95] * len(steps)]
