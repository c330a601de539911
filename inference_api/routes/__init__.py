"""The API's routers, one module per resource (health, models, forecast)."""
