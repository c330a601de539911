"""Monitoring of the served models: rolling accuracy, input drift, retraining on degradation.

:func:`~hourcast.monitoring.monitor.run_monitor` is one run (the Mage pipeline ``monitor``,
hourly): it scores the forecasts of the prediction log against the actuals stored since
(:mod:`~hourcast.monitoring.scoring`), compares them with the backtest of the version served
(:mod:`~hourcast.monitoring.versions`), and decides on retraining
(:mod:`~hourcast.monitoring.policy`); :mod:`~hourcast.monitoring.charts` shapes the stored
results for the Mage charts.
"""
