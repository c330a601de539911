"""``hourcast ingest openaq|openaq-latest|openaq-archive``: the OpenAQ commands.

Registered on ``ingest_app`` by :mod:`hourcast.cli.ingest`. Options use ``Optional[X]`` and
real annotations (mage-ai pins typer 0.9).
"""

from datetime import timedelta
from typing import Annotated, Any, Optional

import typer

from hourcast.cli.ingest_output import (
    Ints,
    RichProgress,
    Strs,
    console,
    finish,
    instant_option,
    numbers_option,
    open_engine,
    progress_bar,
)
from hourcast.settings import Settings, get_settings

__all__ = [
    "ingest_openaq_archive_command",
    "ingest_openaq_command",
    "ingest_openaq_latest_command",
]


def _selection(
    *,
    location: Ints = None,
    coordinates: Optional[str] = None,
    radius: Optional[int] = None,
    bbox: Optional[str] = None,
    iso: Optional[str] = None,
    parameter: Strs = None,
    sensor: Ints = None,
    settings: Optional[Settings] = None,
) -> Any:
    """The selection the options make; with none and ``settings``, the settings' selection."""
    from hourcast.ingestion.openaq_sensors import OpenAQSelection, selection_from_settings

    given = (location, coordinates, radius, bbox, iso, parameter, sensor)
    if settings is not None and not any(given):
        try:
            return selection_from_settings(settings)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--location") from exc
    centre = (
        numbers_option(coordinates, 2, "--coordinates", "39.95,116.47") if coordinates else None
    )
    box = numbers_option(bbox, 4, "--bbox", "116.2,39.8,116.6,40.1") if bbox else None
    if parameter and not all(p.strip().isalnum() for p in parameter):
        raise typer.BadParameter(
            f"expected names such as pm25, got {parameter}", param_hint="--parameter"
        )
    try:
        return OpenAQSelection(
            locations=tuple(location or ()),
            coordinates=centre,  # type: ignore[arg-type]
            radius_m=radius,
            bbox=box,  # type: ignore[arg-type]
            iso=iso,
            parameters=tuple(p.strip().lower() for p in parameter or ()),
            sensors=tuple(sensor or ()),
        )
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        hint = {"locations": "--location", "coordinates": "--coordinates/--radius"}.get(field)
        raise typer.BadParameter(message, param_hint=hint or f"--{field}") from exc


_LocationOpt = Annotated[
    Ints, typer.Option("--location", min=1, help="OpenAQ location id; repeat for several.")
]
_BboxOpt = Annotated[
    Optional[str], typer.Option(help="Search box 'min_lon,min_lat,max_lon,max_lat'.")
]
_IsoOpt = Annotated[Optional[str], typer.Option(help="Country code, e.g. CN.")]
_ParameterOpt = Annotated[
    Strs,
    typer.Option("--parameter", help="Parameter to keep, e.g. pm25; repeatable (default all)."),
]
_SensorOpt = Annotated[
    Ints, typer.Option("--sensor", min=1, help="Only these sensor ids; repeatable.")
]
_BaseUrlOpt = Annotated[
    Optional[str], typer.Option(help="OpenAQ API root (default HOURCAST_OPENAQ_BASE_URL).")
]


def _with_base_url(base_url: Optional[str]) -> Settings:
    settings = get_settings()
    if base_url:
        settings = settings.model_copy(update={"openaq_base_url": base_url})
    return settings


def _store_and_selection(
    base_url: Optional[str],
    *,
    location: Ints,
    bbox: Optional[str],
    iso: Optional[str],
    parameter: Strs,
    sensor: Ints,
) -> tuple[Settings, Any, Any]:
    """Settings (with ``--base-url``), the selection (options, else settings), the store."""
    settings = _with_base_url(base_url)
    selection = _selection(
        location=location, bbox=bbox, iso=iso, parameter=parameter, sensor=sensor, settings=settings
    )
    return settings, selection, open_engine(settings)


def ingest_openaq_latest_command(
    *,
    location: _LocationOpt = None,
    bbox: _BboxOpt = None,
    iso: _IsoOpt = None,
    parameter: _ParameterOpt = None,
    sensor: _SensorOpt = None,
    base_url: _BaseUrlOpt = None,
    gap_budget: Annotated[
        Optional[int],
        typer.Option(
            min=0, max=2000, help="Most /hours requests for gaps (HOURCAST_OPENAQ_GAP_BUDGET)."
        ),
    ] = None,
) -> None:
    """Hourly steady state: the newest value of every selected sensor from /latest.

    Without selection options, HOURCAST_OPENAQ_LOCATIONS / _ISO / _BBOX / _PARAMETERS choose.
    """
    from hourcast.ingestion.openaq_latest import ingest_openaq_latest
    from hourcast.ingestion.openaq_sensors import openaq_client

    settings, selection, engine = _store_and_selection(
        base_url, location=location, bbox=bbox, iso=iso, parameter=parameter, sensor=sensor
    )
    with openaq_client(settings) as client:
        outcome = ingest_openaq_latest(
            engine,
            client=client,
            selection=selection,
            gap_budget=settings.openaq_gap_budget if gap_budget is None else gap_budget,
        )
    finish(outcome)


def ingest_openaq_archive_command(
    *,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD (UTC).")],
    end: Annotated[
        Optional[str], typer.Option(help="Last day, inclusive, YYYY-MM-DD. Default: today.")
    ] = None,
    location: _LocationOpt = None,
    bbox: _BboxOpt = None,
    iso: _IsoOpt = None,
    parameter: _ParameterOpt = None,
    sensor: _SensorOpt = None,
    base_url: _BaseUrlOpt = None,
    bucket: Annotated[
        Optional[str], typer.Option(help="Archive bucket (HOURCAST_OPENAQ_ARCHIVE_BUCKET).")
    ] = None,
    endpoint_url: Annotated[
        Optional[str],
        typer.Option(help="S3 endpoint (HOURCAST_OPENAQ_ARCHIVE_ENDPOINT_URL); AWS if unset."),
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option(min=1, max=128, help="Day files read at once.")
    ] = None,
) -> None:
    """Backfill hours from the OpenAQ archive on S3 (unsigned), a watermark per location.

    The sensors come from the API's location listing (remembered for 24 h); without
    selection options, HOURCAST_OPENAQ_LOCATIONS / _ISO / _BBOX / _PARAMETERS choose.
    """
    from datetime import date

    from hourcast.ingestion.openaq_archive import backfill_openaq_archive
    from hourcast.ingestion.openaq_sensors import discover_sensors, openaq_client
    from hourcast.sources.openaq import OpenAQError
    from hourcast.sources.openaq.archive import archive_client
    from hourcast.storage.ingestion_state import utc_now

    days = {}
    for option, value in (("--start", start), ("--end", end)):
        try:
            days[option] = date.fromisoformat(value) if value else utc_now().date()
        except ValueError as exc:
            raise typer.BadParameter(
                f"expected YYYY-MM-DD, got {value!r}", param_hint=option
            ) from exc
    if days["--end"] < days["--start"]:
        raise typer.BadParameter("is before --start", param_hint="--end")
    settings, selection, engine = _store_and_selection(
        base_url, location=location, bbox=bbox, iso=iso, parameter=parameter, sensor=sensor
    )
    try:
        with openaq_client(settings) as client:
            targets, skipped, _ = discover_sensors(engine, client=client, selection=selection)
    except (OpenAQError, ValueError) as exc:
        console.print(f"[red]error: listing the sensors failed: {exc}[/red]")
        raise typer.Exit(1) from exc
    for note in skipped:
        console.print(f"[dim]{note}[/dim]")
    workers = workers or settings.openaq_archive_workers
    s3 = archive_client(
        endpoint_url=endpoint_url or settings.openaq_archive_endpoint_url,
        region=settings.aws_region,
        pool=workers,
    )
    outcome = backfill_openaq_archive(
        engine,
        s3=s3,
        bucket=bucket or settings.openaq_archive_bucket,
        targets=targets,
        start=days["--start"],
        end=days["--end"],
        workers=workers,
    )
    finish(outcome)


def ingest_openaq_command(
    *,
    location: _LocationOpt = None,
    coordinates: Annotated[
        Optional[str],
        typer.Option(help="Search centre 'latitude,longitude' (with --radius)."),
    ] = None,
    radius: Annotated[
        Optional[int], typer.Option(min=1, max=25_000, help="Search radius in metres.")
    ] = None,
    bbox: _BboxOpt = None,
    iso: _IsoOpt = None,
    parameter: _ParameterOpt = None,
    sensor: _SensorOpt = None,
    backfill_start: Annotated[
        Optional[str],
        typer.Option(
            "--backfill-start",
            help="Where a new sensor's history starts, ISO-8601 (no offset: UTC). "
            "Default: 30 days before --until.",
        ),
    ] = None,
    until: Annotated[
        Optional[str],
        typer.Option(help="End of the pulled window, exclusive, ISO-8601. Default: now."),
    ] = None,
    base_url: _BaseUrlOpt = None,
    overlap_hours: Annotated[
        int, typer.Option(min=0, max=24 * 30, help="Hours re-read before the watermark.")
    ] = 3,
    max_retries: Annotated[
        int, typer.Option(min=0, max=20, help="Retries per request on 429/5xx/timeouts.")
    ] = 5,
) -> None:
    """Upsert OpenAQ hourly records: a backfill for new sensors, the recent hours otherwise."""
    from hourcast.ingestion.openaq import ingest_openaq
    from hourcast.storage.ingestion_state import utc_now

    end = instant_option(until, "--until") if until else utc_now()
    start = instant_option(backfill_start, "--backfill-start") if backfill_start else None
    start = start or end - timedelta(days=30)
    if start >= end:
        raise typer.BadParameter(
            f"{start.isoformat()} is not before --until {end.isoformat()}",
            param_hint="--backfill-start",
        )
    selection = _selection(
        location=location,
        coordinates=coordinates,
        radius=radius,
        bbox=bbox,
        iso=iso,
        parameter=parameter,
        sensor=sensor,
    )
    settings = get_settings()
    if base_url:
        settings = settings.model_copy(update={"openaq_base_url": base_url})
    engine = open_engine(settings)
    console.print(
        f"OpenAQ {settings.openaq_base_url}: {start:%Y-%m-%dT%H:%MZ} .. {end:%Y-%m-%dT%H:%MZ}"
    )
    with progress_bar() as bar:
        outcome = ingest_openaq(
            engine,
            settings=settings,
            selection=selection,
            backfill_start=start,
            until=end,
            overlap=timedelta(hours=overlap_hours),
            progress=RichProgress(bar),
            client_options={"max_retries": max_retries},
        )
    finish(outcome)
