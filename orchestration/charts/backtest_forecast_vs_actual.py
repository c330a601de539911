from hourcast.training.backtest_report import forecast_window

# Forecast (24 h ahead from each daily origin), 80 % interval and actuals of the first series.
# x: the local hour in milliseconds since 1970 (the line chart takes numbers; the label format
# in the chart's settings shows them as dates, in UTC so that the hours stay the series' own).
window = forecast_window(df_1)
local_time = window["local_time"]
# In this order Mage's palette draws the interval bounds in two purples around the lines.
value = [window["lo_80"], window["forecast"], window["actual"], window["hi_80"]]
