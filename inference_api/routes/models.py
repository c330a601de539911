"""The registered models the API serves."""

from fastapi import APIRouter

from inference_api.deps import SettingsDep, StoreDep
from inference_api.schemas import ModelPublic, ModelsPublic

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=ModelsPublic)
def list_models(store: StoreDep, settings: SettingsDep) -> ModelsPublic:
    """Name, alias, version and run id of the model serving each series."""
    models = []
    for series_id, slot in store.slots.items():
        model = slot.model
        models.append(
            ModelPublic(
                series_id=series_id,
                name=slot.spec.model_name,
                alias=settings.model_alias,
                version=model.version if model else None,
                run_id=model.run_id if model else None,
                loaded=model is not None,
                error=None if model else slot.last_error,
            )
        )
    return ModelsPublic(models=models)
