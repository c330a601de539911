"""Hourcast: hourly forecasting for air quality and traffic.

The package is the shared core used by the Mage blocks (``orchestration/``) and the
inference API (``inference_api/``): one settings class, one feature path, one storage layer.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
