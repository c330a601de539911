"""Register the trained model; the promotion gate decides champion or challenger."""

from hourcast.pipeline_variables import TrainVariables
from hourcast.settings import get_settings
from hourcast.training.fit import TrainedRun
from hourcast.training.register import register_trained

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def register_model(trained: dict, *args, **kwargs) -> dict:
    alias = TrainVariables.parse(kwargs).alias
    registered = register_trained(TrainedRun(**trained), settings=get_settings(), alias=alias)
    print(
        f"registered {registered.name} v{registered.version} as @{registered.alias}: "
        f"{registered.reason}"
    )
    return registered.to_dict()


@test
def test_version_registered(registered: dict, *args) -> None:
    assert int(registered["version"]) >= 1
    assert registered["alias"] in ("champion", "challenger")
