"""The registered models the API serves."""

from fastapi import APIRouter

from inference_api.deps import SettingsDep, StoreDep
from inference_api.schemas import ModelPublic, ModelsPublic

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=ModelsPublic)
def list_models(store: StoreDep, settings: SettingsDep) -> ModelsPublic:
    """Each served model: version, run id, the series it was fitted on, its interval levels."""
    models = []
    for slot in store.slots.values():
        model = slot.model
        models.append(
            ModelPublic(
                target=slot.target.name,
                series_id=slot.dedicated_series,
                name=slot.target.model_name,
                alias=settings.model_alias,
                version=model.version if model else None,
                run_id=model.run_id if model else None,
                loaded=model is not None,
                error=None if model else slot.last_error,
                series_ids=slot.fitted_series,
                levels=slot.levels,
            )
        )
    return ModelsPublic(models=models)
