"""Hourcast: hourly forecasting for air quality and traffic.

The package is the shared core used by the Mage blocks (``orchestration/``) and the
inference API (``inference_api/``): one settings class, one feature path, one storage layer.
"""

import warnings

__all__ = ["__version__"]

# mlflow 3.17 under pydantic 2.9 (the versions mage-ai's pins force) warns about its own
# "model_" field names on import; the warning is harmless and would confuse users.
warnings.filterwarnings("ignore", message=r"Field \"model_", category=UserWarning)

__version__ = "0.1.0"
