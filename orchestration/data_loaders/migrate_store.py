"""Migrate the observation store to the newest schema: the first block of every pipeline.

Migrations run here once per pipeline run; the blocks after it only read and write.
"""

from hourcast.settings import get_settings
from hourcast.storage.db import head_revision, upgrade_database

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def migrate_store(*args, **kwargs) -> dict:
    return {"revision": upgrade_database(get_settings().resolved_database_url)}


@test
def test_store_at_head(store: dict, *args) -> None:
    assert store["revision"] == head_revision(), f"store at {store['revision']}"
