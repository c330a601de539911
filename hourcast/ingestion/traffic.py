"""Incremental, idempotent ingestion of traffic CSVs (a local file or S3 objects).

Sources:

* a local CSV: remembered by the SHA-256 of its content, re-read only when it changes;
* ``s3://bucket/prefix``: yearly objects ``{prefix}_{year}.csv`` and *append objects*
  ``{prefix}_{year}_{tag}.csv`` (``tag``: letters, digits, ``-``; e.g.
  ``metro/traffic_2018_20181001T0100.csv`` carrying one new hour). Each object is
  remembered by its ETag, so a run reads only new or changed objects. Objects are read in key
  order, which puts a year before its appends; when two objects hold the same hour, the one
  read last wins.

Each object is converted to UTC hours on its own (DST changes fall inside a year) and stored
in chunks; the object's memory is written in the transaction of its last chunk, so an object
is either remembered and fully stored, or read again by the next run. Upserts make the
re-read harmless. Rows of an object that later disappear from it are not deleted.

:func:`ingest_traffic` is the entry point the CLI and the Mage blocks call.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from hourcast.ingestion.outcome import (
    NullProgress,
    ObjectOutcome,
    Progress,
    RunOutcome,
    SeriesOutcome,
    end_run,
    log_progress,
    logged_run,
)
from hourcast.ingestion.quality import plausible_range
from hourcast.series import TRAFFIC_I94, SeriesSpec
from hourcast.settings import Settings
from hourcast.sources.traffic import parse_s3_uri, read_traffic_csv, to_hourly_utc
from hourcast.storage.ingestion_state import (
    get_source_object,
    remember_source_object,
    set_watermark,
)
from hourcast.storage.observations import UpsertResult, register_series, upsert_observations

__all__ = [
    "TRAFFIC_SOURCE",
    "IngestResult",
    "TrafficObject",
    "ingest_traffic",
    "ingest_traffic_objects",
    "list_traffic_objects",
    "local_traffic_object",
    "s3_client",
]

TRAFFIC_SOURCE = "traffic"
_CHUNK_HOURS = 5000


@dataclass(frozen=True)
class TrafficObject:
    """One readable traffic object.

    Attributes:
        key: S3 key, or the resolved path of a local file.
        etag: S3 ETag (quotes stripped), or the SHA-256 of a local file.
        size: Bytes.
        bucket: S3 bucket; None for a local file.
    """

    key: str
    etag: str
    size: int | None
    bucket: str | None = None

    @property
    def memory_key(self) -> str:
        """Key in ``source_objects``: ``s3://bucket/key`` or the file path."""
        return f"s3://{self.bucket}/{self.key}" if self.bucket else self.key


def _object_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix) + r"_(?P<year>\d{4})(?:_(?P<tag>[A-Za-z0-9-]+))?\.csv")


def list_traffic_objects(s3: Any, *, bucket: str, prefix: str) -> list[TrafficObject]:
    """Yearly and append objects under ``prefix``, in reading order (key order).

    Args:
        s3: A boto3 S3 client.
        bucket (str): Bucket name.
        prefix (str): Key prefix, e.g. ``metro/traffic`` for ``metro/traffic_2016.csv``.

    Returns:
        list[TrafficObject]: Matching objects with ETag and size.
    """
    pattern = _object_pattern(prefix)
    found = [
        TrafficObject(item["Key"], item["ETag"].strip('"'), int(item["Size"]), bucket)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if pattern.fullmatch(item["Key"])
    ]
    return sorted(found, key=lambda o: o.key)


def local_traffic_object(path: str | Path) -> TrafficObject:
    """A local CSV as an object keyed by its resolved path and content hash.

    Raises:
        FileNotFoundError: No such file.
    """
    resolved = Path(path).expanduser().resolve()
    digest = hashlib.sha256()
    with resolved.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return TrafficObject(str(resolved), "sha256:" + digest.hexdigest(), resolved.stat().st_size)


def _read(obj: TrafficObject, s3: Any) -> tuple[pd.DataFrame, str]:
    """The raw rows of an object and the ETag (or hash) of the bytes actually read."""
    if obj.bucket is None:
        body = Path(obj.key).read_bytes()
        etag = "sha256:" + hashlib.sha256(body).hexdigest()
    else:
        response = s3.get_object(Bucket=obj.bucket, Key=obj.key)
        body, etag = response["Body"].read(), response["ETag"].strip('"')
    return read_traffic_csv(io.BytesIO(body)), etag


def _plausible(frame: pd.DataFrame, spec: SeriesSpec, outcome: SeriesOutcome) -> pd.DataFrame:
    """Drop hours in the future or with impossible volumes, counting them as rejected."""
    now = pd.Timestamp.now(tz="UTC")
    future = frame["ts"] > now
    for ts in frame.loc[future, "ts"]:
        outcome.reject("future timestamp", f"hour {ts.isoformat()} is after now")
    bounds = plausible_range(spec.parameter, spec.units)
    bad = pd.Series(False, index=frame.index)
    if bounds is not None:
        bad = frame["value"].notna() & ~frame["value"].between(*bounds)
        for ts, value in zip(frame.loc[bad, "ts"], frame.loc[bad, "value"], strict=True):
            outcome.reject("implausible value", f"{value:g} {spec.units} at {ts.isoformat()}")
    return frame.loc[~future & ~bad].reset_index(drop=True)


def _store_object(
    engine: Engine,
    *,
    obj: TrafficObject,
    frame: pd.DataFrame,
    spec: SeriesSpec,
    outcome: SeriesOutcome,
    source_rows: int,
) -> None:
    """Upsert the hours of one object in chunks; remember the object with the last chunk."""
    starts = list(range(0, len(frame), _CHUNK_HOURS)) or [0]
    for start in starts:
        chunk = frame.iloc[start : start + _CHUNK_HOURS]
        with engine.begin() as connection:
            result = upsert_observations(connection, series_id=spec.series_id, frame=chunk)
            if not chunk.empty:
                set_watermark(connection, series_id=spec.series_id, last_ts=chunk["ts"].max())
            if start == starts[-1]:
                remember_source_object(
                    connection,
                    source=TRAFFIC_SOURCE,
                    key=obj.memory_key,
                    etag=obj.etag,
                    size=obj.size,
                    rows=source_rows,
                )
        outcome.add_upsert(result)
        outcome.pages += 1
    if not frame.empty:
        outcome.saw(frame["ts"].min().to_pydatetime(), frame["ts"].max().to_pydatetime())


def _objects(source: str, s3: Any) -> list[TrafficObject]:
    if not source.startswith("s3://"):
        return [local_traffic_object(source)]
    if s3 is None:
        raise ValueError("an S3 client is needed to read " + source)
    bucket, prefix = parse_s3_uri(source)
    found = list_traffic_objects(s3, bucket=bucket, prefix=prefix)
    if not found:
        raise FileNotFoundError(
            f"no objects {prefix}_<year>.csv or {prefix}_<year>_<tag>.csv in s3://{bucket}"
        )
    return found


def ingest_traffic_objects(
    engine: Engine,
    *,
    source: str,
    spec: SeriesSpec,
    s3: Any = None,
    progress: Progress | None = None,
) -> tuple[RunOutcome, int]:
    """Ingest the new or changed objects of a traffic source, logging the run.

    Args:
        engine (Engine): The observation store (migrated).
        source (str): A CSV path, or ``s3://bucket/prefix``.
        spec (SeriesSpec): The series the rows belong to.
        s3: A boto3 S3 client; required for s3:// sources.
        progress (Progress | None): Receives per-object progress. Defaults to none.

    Returns:
        tuple[RunOutcome, int]: The run outcome (objects read, skipped or failed; counts) and
        the number of source CSV rows read.
    """
    progress = progress or NullProgress()
    with logged_run(engine, source=TRAFFIC_SOURCE, inputs={"source": source}) as outcome:
        series = SeriesOutcome(spec.series_id, spec.parameter, spec.units)
        outcome.series.append(series)
        source_rows = 0
        with engine.begin() as connection:
            register_series(connection, spec=spec)
        try:
            objects = _objects(source, s3)
        except (OSError, ValueError) as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
            return end_run(engine, outcome=outcome), 0
        except Exception as exc:  # botocore errors have no common importable base here
            outcome.error = f"listing {source} failed: {type(exc).__name__}: {exc}"
            return end_run(engine, outcome=outcome), 0
        progress.begin("objects", description="objects", total=len(objects))
        for done, obj in enumerate(objects, start=1):
            item = ObjectOutcome(obj.key, obj.etag)
            outcome.objects.append(item)
            known = get_source_object(engine, source=TRAFFIC_SOURCE, key=obj.memory_key)
            if known is None or known.etag != obj.etag:
                try:
                    raw, etag = _read(obj, s3)
                    hourly = _plausible(to_hourly_utc(raw).frame, spec, series)
                    _store_object(
                        engine,
                        # Remember what was read, should the object have changed since listed.
                        obj=replace(obj, etag=etag),
                        frame=hourly,
                        spec=spec,
                        outcome=series,
                        source_rows=len(raw),
                    )
                except SQLAlchemyError:
                    raise
                except Exception as exc:  # one bad object must not stop the others
                    item.status, item.error = "failed", f"{type(exc).__name__}: {exc}"
                else:
                    item.status, item.rows, item.hours = "read", len(raw), len(hourly)
                    source_rows += len(raw)
                log_progress(engine, outcome=outcome)
            progress.advance("objects", completed=done)
        progress.end("objects")
        return end_run(engine, outcome=outcome), source_rows


@dataclass(frozen=True)
class IngestResult:
    """Outcome of one traffic ingestion of one series.

    Attributes:
        series_id: The series.
        source_rows: CSV rows read in this run (0 when every object was unchanged).
        hours: Hourly rows derived from them.
        upsert: Inserted, updated and unchanged hours.
        run_id: Id in the run log (``ingestion_runs``).
        status: ``succeeded`` or ``partial`` (a failed run raises instead).
        objects_read: Objects read because they were new or changed.
        objects_skipped: Objects skipped because their ETag (or hash) was unchanged.
        rejected: Hours rejected (implausible volume, future hour).
        outcome: The full run outcome (per-object details).
    """

    series_id: str
    source_rows: int
    hours: int
    upsert: UpsertResult
    run_id: str | None = None
    status: str = "succeeded"
    objects_read: int = 0
    objects_skipped: int = 0
    rejected: int = 0
    outcome: RunOutcome | None = None


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the configured region and endpoint (moto locally)."""
    import boto3

    return boto3.client(
        "s3", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )


def ingest_traffic(
    engine: Engine,
    *,
    settings: Settings,
    source: str | None = None,
    spec: SeriesSpec = TRAFFIC_I94,
    progress: Progress | None = None,
) -> IngestResult:
    """Upsert the traffic rows of the new or changed objects of ``source``.

    Args:
        engine (Engine): The observation store (migrated).
        settings (Settings): Process settings (S3 region and endpoint).
        source (str | None): CSV path or ``s3://bucket/prefix``. Defaults to
            ``HOURCAST_TRAFFIC_SOURCE``.
        spec (SeriesSpec): The series. Defaults to the I-94 series.
        progress (Progress | None): Receives per-object progress.

    Returns:
        IngestResult: Counts of this run; a re-run with unchanged objects reads nothing.

    Raises:
        IngestionError: The run failed as a whole (no such file or objects, every object
            unreadable); it is logged as ``failed`` first.
    """
    location = source or settings.traffic_source
    s3 = s3_client(settings) if location.startswith("s3://") else None
    outcome, source_rows = ingest_traffic_objects(
        engine, source=location, spec=spec, s3=s3, progress=progress
    )
    outcome.raise_for_status()
    series = outcome.series[0]
    return IngestResult(
        series_id=spec.series_id,
        source_rows=source_rows,
        hours=sum(o.hours for o in outcome.objects),
        upsert=UpsertResult(series.inserted, series.updated, series.unchanged),
        run_id=outcome.run_id,
        status=outcome.status,
        objects_read=sum(o.status == "read" for o in outcome.objects),
        objects_skipped=sum(o.status == "skipped" for o in outcome.objects),
        rejected=series.rejected,
        outcome=outcome,
    )
