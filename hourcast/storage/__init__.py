"""Observation storage: schema, migrations and keyword-only data-access functions."""
