"""Liveness and readiness."""

from fastapi import APIRouter, HTTPException, status

from inference_api.deps import StoreDep
from inference_api.schemas import Health

router = APIRouter(tags=["health"])


def _health(store: StoreDep) -> Health:
    loaded = sum(slot.model is not None for slot in store.slots.values())
    return Health(status="ok", models_loaded=loaded, models_expected=len(store.slots))


@router.get("/health", response_model=Health)
def health(store: StoreDep) -> Health:
    """Liveness: the process answers (models may still be loading)."""
    return _health(store)


@router.get("/ready", response_model=Health, responses={503: {"description": "Models loading"}})
def ready(store: StoreDep) -> Health:
    """Readiness: every served model is loaded."""
    missing = [slot.target.model_name for slot in store.slots.values() if slot.model is None]
    if missing:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"models still loading: {', '.join(missing)}"
        )
    return _health(store)
