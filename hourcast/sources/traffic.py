"""The UCI Metro Interstate Traffic Volume data: local-time CSV rows to one UTC row per hour.

The CSV stamps hours in America/Chicago local time without an offset. Around DST changes:
- the repeated hour in autumn (01:00 occurs twice) is ambiguous: if the file holds two
  different volumes for it they are, in file order, the daylight-time then the standard-time
  hour; a single volume is taken as the first (daylight-time) occurrence, leaving the second
  as a gap;
- a local time that does not exist (the skipped spring hour) cannot be placed and is dropped.
Several rows of one hour (one per weather description) collapse into one. Missing hours stay
missing: nothing is invented.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "TRAFFIC_TIMEZONE",
    "TrafficLoad",
    "load_traffic",
    "parse_s3_uri",
    "read_traffic_csv",
    "to_hourly_utc",
    "yearly_object_keys",
]

TRAFFIC_TIMEZONE = "America/Chicago"
_COLUMNS = [
    "holiday",
    "temp",
    "rain_1h",
    "snow_1h",
    "clouds_all",
    "weather_main",
    "weather_description",
    "date_time",
    "traffic_volume",
]
# Physically implausible readings in the published file (0 K, a 9831 mm hourly rain).
_MIN_TEMP_K, _MAX_TEMP_K = 200.0, 340.0
_MAX_RAIN_MM = 200.0


@dataclass(frozen=True)
class TrafficLoad:
    """Hourly UTC rows and what was dropped on the way."""

    frame: pd.DataFrame
    source_rows: int
    nonexistent_local_times: int


def read_traffic_csv(source: str | Path | IO[Any]) -> pd.DataFrame:
    """Read the raw CSV (a path or an open file), checking its columns.

    Raises:
        ValueError: A required column is missing.
    """
    raw = pd.read_csv(source, keep_default_na=False, na_values=[""])
    missing = [c for c in _COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"traffic CSV lacks columns: {', '.join(missing)}")
    return raw


def _occurrence_of_volume(local: pd.Series, volume: pd.Series) -> npt.NDArray[np.int64]:
    """0 for the first distinct volume seen at a local time, 1 for the second, and so on."""
    firsts = pd.DataFrame({"local": local, "volume": volume}).drop_duplicates()
    firsts["occurrence"] = firsts.groupby("local").cumcount()
    keyed = pd.DataFrame({"local": local, "volume": volume}).merge(
        firsts, on=["local", "volume"], how="left"
    )
    return keyed["occurrence"].to_numpy()


def _nullable(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def to_hourly_utc(raw: pd.DataFrame, *, timezone: str = TRAFFIC_TIMEZONE) -> TrafficLoad:
    """Convert raw rows to one row per UTC hour.

    Returns:
        TrafficLoad: ``frame`` has ``ts`` (UTC hour start), ``value`` (vehicles per hour) and
        ``covariates`` (dict of weather and the holiday name), sorted by ``ts``.
    """
    local = pd.to_datetime(raw["date_time"], format="%Y-%m-%d %H:%M:%S")
    occurrence = _occurrence_of_volume(local, raw["traffic_volume"])
    stamps = pd.DatetimeIndex(local).tz_localize(
        timezone, ambiguous=occurrence == 0, nonexistent="NaT"
    )
    frame = raw.assign(ts=stamps.tz_convert("UTC"))
    nonexistent = int(frame["ts"].isna().sum())
    frame = frame.dropna(subset=["ts"])

    temp = frame["temp"].where(frame["temp"].between(_MIN_TEMP_K, _MAX_TEMP_K))
    rain = frame["rain_1h"].where(frame["rain_1h"].between(0, _MAX_RAIN_MM))
    frame = frame.assign(temp=temp, rain_1h=rain)
    grouped = frame.groupby("ts", sort=True)
    first = grouped.first()
    descriptions = grouped["weather_description"].agg(lambda s: "; ".join(dict.fromkeys(s)))
    # The CSV writes "None" on working days; masked to NaN, which _nullable turns into None.
    holiday = first["holiday"].where(first["holiday"] != "None")
    covariates = [
        {
            "holiday": _nullable(h),
            "temp_k": _nullable(t),
            "rain_1h_mm": _nullable(r),
            "snow_1h_mm": _nullable(s),
            "clouds_pct": _nullable(c),
            "weather_main": _nullable(m),
            "weather_description": d,
        }
        for h, t, r, s, c, m, d in zip(
            holiday.tolist(),
            first["temp"].astype(float).tolist(),
            first["rain_1h"].astype(float).tolist(),
            first["snow_1h"].astype(float).tolist(),
            first["clouds_all"].astype(float).tolist(),
            first["weather_main"].tolist(),
            descriptions.tolist(),
            strict=True,
        )
    ]
    hourly = pd.DataFrame(
        {
            "ts": first.index,
            "value": first["traffic_volume"].astype(float).to_numpy(),
            "covariates": covariates,
        }
    )
    return TrafficLoad(frame=hourly, source_rows=len(raw), nonexistent_local_times=nonexistent)


_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<prefix>.+)$")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into bucket and prefix.

    Raises:
        ValueError: Not an s3:// URI with a prefix.
    """
    match = _S3_URI.match(uri)
    if not match:
        raise ValueError(f"expected s3://bucket/prefix, got {uri!r}")
    return match["bucket"], match["prefix"]


def yearly_object_keys(s3: Any, *, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """Keys and ETags of the ``{prefix}_{year}.csv`` objects in ``bucket``, by year."""
    pattern = re.compile(re.escape(prefix) + r"_(\d{4})\.csv$")
    found: list[tuple[str, str]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if pattern.search(item["Key"]):
                found.append((item["Key"], item["ETag"].strip('"')))
    return sorted(found)


def load_traffic(source: str | Path, *, s3: Any = None) -> TrafficLoad:
    """Read traffic rows from a local CSV or from yearly objects ``s3://bucket/prefix``.

    Args:
        source: A path, or ``s3://bucket/prefix`` naming objects ``{prefix}_{year}.csv``.
        s3: A boto3 S3 client; required for s3:// sources.
    """
    text = str(source)
    if not text.startswith("s3://"):
        return to_hourly_utc(read_traffic_csv(Path(text)))
    if s3 is None:
        raise ValueError("an S3 client is needed to read " + text)
    bucket, prefix = parse_s3_uri(text)
    keys = yearly_object_keys(s3, bucket=bucket, prefix=prefix)
    if not keys:
        raise FileNotFoundError(f"no objects {prefix}_<year>.csv in s3://{bucket}")
    parts = [
        read_traffic_csv(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        for key, _etag in keys
    ]
    return to_hourly_utc(pd.concat(parts, ignore_index=True))
