"""Hourcast inference API: serves forecasts of registered models over HTTP."""
