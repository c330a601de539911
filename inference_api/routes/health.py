"""Liveness and readiness: the registry and each served model."""

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import ORJSONResponse

from inference_api.deps import StoreDep
from inference_api.model_store import ModelStore
from inference_api.schemas import Health, RegistryPublic, ServedModelState

router = APIRouter(tags=["health"])


def _health(store: ModelStore) -> Health:
    slots = list(store.slots.values())
    status: Literal["ok", "degraded", "loading"]
    if not store.ready:
        status = "loading"
    elif store.registry_status == "degraded":
        status = "degraded"
    else:
        status = "ok"
    return Health(
        status=status,
        models_loaded=sum(slot.model is not None for slot in slots),
        models_expected=len(slots),
        registry=RegistryPublic(status=store.registry_status, last_contact=store.last_contact),
        models=[
            ServedModelState(
                target=slot.target.name,
                name=slot.target.model_name,
                state=slot.state,
                version=slot.model.version if slot.model else None,
                source=slot.model.source if slot.model else None,
            )
            for slot in slots
        ],
    )


@router.get("/health", response_model=Health)
def health(store: StoreDep) -> Health:
    """Liveness: the process answers (models may still be loading)."""
    return _health(store)


@router.get(
    "/ready",
    response_model=Health,
    responses={503: {"model": Health, "description": "A registered model is not loaded yet"}},
)
def ready(store: StoreDep) -> ORJSONResponse:
    """Readiness: every target with a registered version is served (the registry may be down).

    A target the registry has no version of (never trained) does not hold readiness; one
    whose model is registered but not loaded yet does (503, same body).
    """
    body = _health(store)
    return ORJSONResponse(body.model_dump(mode="json"), status_code=200 if store.ready else 503)
