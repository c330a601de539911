"""Traffic CSV → UTC hours: DST, duplicate rows, gaps, and yearly S3 objects."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from hourcast.settings import BUNDLED_TRAFFIC_CSV
from hourcast.sources.traffic import (
    load_traffic,
    parse_s3_uri,
    read_traffic_csv,
    to_hourly_utc,
    yearly_object_keys,
)

HEADER = (
    "holiday,temp,rain_1h,snow_1h,clouds_all,weather_main,weather_description,"
    "date_time,traffic_volume\n"
)


def _csv(rows: list[str]) -> pd.DataFrame:
    return read_traffic_csv(io.StringIO(HEADER + "\n".join(rows) + "\n"))


@pytest.fixture(scope="module")
def bundled() -> pd.DataFrame:
    return load_traffic(BUNDLED_TRAFFIC_CSV).frame


def _hours(frame: pd.DataFrame, start_utc: str, end_utc: str) -> list[tuple[str, float]]:
    start, end = pd.Timestamp(start_utc, tz="UTC"), pd.Timestamp(end_utc, tz="UTC")
    window = frame[(frame.ts >= start) & (frame.ts <= end)]
    return [
        (ts.strftime("%Y-%m-%d %H:%M"), value)
        for ts, value in zip(window.ts, window.value, strict=True)
    ]


@pytest.mark.parametrize(
    ("start_utc", "expected"),
    [
        # 2016-11-06: 01:00 local occurs twice; the file has one volume for it (539), placed on
        # the first (CDT, 06:00 UTC) occurrence; 02:00 CST is 08:00 UTC.
        (
            "2016-11-06 05:00",
            [
                ("2016-11-06 05:00", 1283.0),
                ("2016-11-06 06:00", 539.0),
                ("2016-11-06 08:00", 331.0),
                ("2016-11-06 09:00", 194.0),
            ],
        ),
        (
            "2017-11-05 05:00",
            [
                ("2017-11-05 05:00", 1554.0),
                ("2017-11-05 06:00", 629.0),
                ("2017-11-05 08:00", 361.0),
                ("2017-11-05 09:00", 247.0),
            ],
        ),
        # 2017-03-12: 02:00 local does not exist; 01:00 CST = 07:00 UTC, 03:00 CDT = 08:00 UTC.
        (
            "2017-03-12 06:00",
            [
                ("2017-03-12 06:00", 1825.0),
                ("2017-03-12 07:00", 1107.0),
                ("2017-03-12 08:00", 436.0),
                ("2017-03-12 09:00", 430.0),
            ],
        ),
        # 2016-03-13: the file skips 02:00 and 03:00 local; 04:00 CDT = 09:00 UTC.
        (
            "2016-03-13 06:00",
            [
                ("2016-03-13 06:00", 1851.0),
                ("2016-03-13 07:00", 999.0),
                ("2016-03-13 09:00", 451.0),
                ("2016-03-13 10:00", 469.0),
            ],
        ),
    ],
)
def test_dst_changes_land_on_the_right_utc_hours(
    bundled: pd.DataFrame, start_utc: str, expected: list[tuple[str, float]]
) -> None:
    # Every UTC hour between the first and last expected one: gaps show as absent hours.
    assert _hours(bundled, start_utc, expected[-1][0]) == expected


def test_bundled_file_has_one_row_per_hour(bundled: pd.DataFrame) -> None:
    assert bundled.ts.is_unique
    assert bundled.ts.is_monotonic_increasing
    assert len(bundled) == 38563  # 45,674 CSV rows, one per weather description
    assert str(bundled.ts.dt.tz) == "UTC"


def test_gaps_stay_gaps(bundled: pd.DataFrame) -> None:
    steps = bundled.ts.diff().dropna()
    # The longest gap of the published data: 2014-08 to 2015-06, nothing invented in it.
    assert steps.max() > pd.Timedelta(days=300)
    assert not bundled.value.isna().any()


def test_two_volumes_for_a_repeated_hour_fill_both_occurrences() -> None:
    raw = _csv(
        [
            "None,280,0,0,1,Clear,sky is clear,2016-11-06 00:00:00,900",
            "None,280,0,0,1,Clear,sky is clear,2016-11-06 01:00:00,500",
            "None,280,0,0,1,Mist,mist,2016-11-06 01:00:00,500",
            "None,280,0,0,1,Clear,sky is clear,2016-11-06 01:00:00,400",
            "None,280,0,0,1,Clear,sky is clear,2016-11-06 02:00:00,300",
        ]
    )
    frame = to_hourly_utc(raw).frame
    assert [ts.strftime("%H:%M") for ts in frame.ts] == ["05:00", "06:00", "07:00", "08:00"]
    assert frame.value.tolist() == [900.0, 500.0, 400.0, 300.0]
    assert frame.covariates[1]["weather_description"] == "sky is clear; mist"


def test_nonexistent_local_time_is_dropped_and_counted() -> None:
    raw = _csv(
        [
            "None,280,0,0,1,Clear,sky is clear,2017-03-12 01:00:00,100",
            "None,280,0,0,1,Clear,sky is clear,2017-03-12 02:00:00,200",
            "None,280,0,0,1,Clear,sky is clear,2017-03-12 03:00:00,300",
        ]
    )
    loaded = to_hourly_utc(raw)
    assert loaded.nonexistent_local_times == 1
    assert loaded.frame.value.tolist() == [100.0, 300.0]


def test_implausible_weather_becomes_null_and_holiday_kept() -> None:
    raw = _csv(["Christmas Day,0,9831.0,0,1,Clear,sky is clear,2016-12-25 00:00:00,800"])
    covariates = to_hourly_utc(raw).frame.covariates[0]
    assert covariates["temp_k"] is None
    assert covariates["rain_1h_mm"] is None
    assert covariates["holiday"] == "Christmas Day"


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="traffic_volume"):
        read_traffic_csv(io.StringIO("holiday,temp\nNone,1\n"))


def test_parse_s3_uri() -> None:
    assert parse_s3_uri("s3://bucket/traffic/metro") == ("bucket", "traffic/metro")
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        parse_s3_uri("s3://bucket-only")


@pytest.mark.integration
def test_yearly_s3_objects_read_like_the_single_file(moto_endpoint: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="traffic-yearly")
    raw = pd.read_csv(BUNDLED_TRAFFIC_CSV)
    years = raw.date_time.str[:4]
    for year in ("2016", "2017"):
        body = raw[years == year].to_csv(index=False).encode()
        s3.put_object(Bucket="traffic-yearly", Key=f"metro/volume_{year}.csv", Body=body)
    s3.put_object(Bucket="traffic-yearly", Key="metro/volume_notes.txt", Body=b"ignored")

    keys = yearly_object_keys(s3, bucket="traffic-yearly", prefix="metro/volume")
    assert [key for key, _ in keys] == ["metro/volume_2016.csv", "metro/volume_2017.csv"]
    assert all(len(etag) == 32 for _, etag in keys)

    from_s3 = load_traffic("s3://traffic-yearly/metro/volume", s3=s3).frame
    local = to_hourly_utc(raw[years.isin(["2016", "2017"])]).frame
    pd.testing.assert_frame_equal(from_s3[["ts", "value"]], local[["ts", "value"]])
