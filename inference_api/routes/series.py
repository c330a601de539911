"""The series the served models forecast (included in the forecast router: same access)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import ORJSONResponse

from hourcast.serving import last_observed_hours, routable_series
from inference_api.deps import EngineDep, StoreDep
from inference_api.schemas import ModelRef, SeriesList, SeriesPublic

router = APIRouter(tags=["series"])


@router.get("/series", response_model=SeriesList, response_class=ORJSONResponse)
def list_series(store: StoreDep, engine: EngineDep) -> SeriesList:
    """Every series that can be forecast: its last observed hour and the model serving it."""
    last = last_observed_hours(engine)
    found = []
    for series_id in routable_series(engine, targets=store.targets):
        slot, described = store.route(series_id, engine=engine)
        model = slot.model
        found.append(
            SeriesPublic(
                series_id=series_id,
                source=described.source,
                parameter=described.parameter,
                units=described.units,
                timezone=described.timezone,
                location=described.location,
                target=slot.target.name,
                last_observed=last.get(series_id),
                model=ModelRef(name=model.name, version=model.version) if model else None,
            )
        )
    return SeriesList(series=found)
