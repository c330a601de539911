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
    state = _health(store)
    if state.models_loaded < state.models_expected:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "models are still loading")
    return state
