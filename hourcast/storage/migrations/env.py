"""Alembic environment: migrations run on the engine handed over in ``config.attributes``."""

from alembic import context

from hourcast.storage.db import compared_name
from hourcast.storage.schema import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=compared_name,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
