"""OpenAQ client against the fake OpenAQ v3 server, over real HTTP on a loopback port.

The server runs with uvicorn in a background thread (one per module); every test starts
from ``POST /_admin/reset``. Integration tests use real time; the unit tests at the end
inject a fake clock and sleep into the client (the HTTP is still real).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hourcast.sources.openaq import (
    HourlyRecord,
    OpenAQClient,
    OpenAQClientError,
    OpenAQNotFoundError,
    OpenAQRateLimitError,
    OpenAQServerError,
    OpenAQTransportError,
    RejectReason,
    parse_hourly_page,
)
from hourcast_dev.openaq_fake import (
    BEIJING_LOCATION_ID,
    BEIJING_SENSOR_ID,
    DATA_DIR,
    FakeServer,
    create_app,
)
from hourcast_dev.openaq_fake import main as fake_main

FIXTURES = DATA_DIR / "openaq"
BEIJING_CSV = DATA_DIR / "beijing_pm25" / "PRSA_data_2010.1.1-2014.10.8.csv"
ALL_1502 = (datetime(2016, 10, 1, tzinfo=UTC), datetime(2017, 5, 1, tzinfo=UTC))


# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    """One fake OpenAQ server for the module, on a free loopback port."""
    with FakeServer(create_app()) as running:
        yield running


@pytest.fixture
def url(server: FakeServer) -> str:
    """Base URL of the fake server, reset to a clean state (no faults, no counts)."""
    httpx.post(f"{server.url}/_admin/reset").raise_for_status()
    return server.url


def _fault(url: str, **spec: Any) -> None:
    httpx.post(f"{url}/_admin/faults", json=spec).raise_for_status()


def _stats(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/_admin/stats").json()


def _client(url: str, **overrides: Any) -> OpenAQClient:
    """A client with short backoffs so retry tests stay fast."""
    options: dict[str, Any] = {"backoff_base": 0.05, "backoff_max": 0.2, "timeout": 5.0}
    options.update(overrides)
    return OpenAQClient(url, **options)


def _beijing_hours(start: datetime, end: datetime) -> dict[datetime, float]:
    """Independent reading of the CSV: UTC hour -> PM2.5 in ``[start, end)``, NA left out."""
    out = {}
    with BEIJING_CSV.open(newline="") as handle:
        for row in csv.DictReader(handle):
            local = datetime(int(row["year"]), int(row["month"]), int(row["day"]), int(row["hour"]))
            ts = (local - timedelta(hours=8)).replace(tzinfo=UTC)
            if start <= ts < end and row["pm2.5"] != "NA":
                out[ts] = float(row["pm2.5"])
    return out


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- the fake server itself ------------------------------------------------------------------


def test_fake_serves_the_raw_api_shape(url: str) -> None:
    response = httpx.get(f"{url}/v3/sensors/1502/hours", params={"limit": 100})
    assert response.status_code == 200
    for header in ("limit", "remaining", "used", "reset"):
        assert response.headers[f"x-ratelimit-{header}"].isdigit()
    body = response.json()
    assert body["meta"] == {
        "name": "openaq-api",
        "website": "/",
        "page": 1,
        "limit": 100,
        "found": ">100",
    }
    first = body["results"][0]
    assert set(first) >= {"period", "value", "flagInfo", "parameter", "summary", "coverage"}
    assert first["period"]["datetimeFrom"] == {
        "utc": "2016-10-10T08:00:00Z",
        "local": "2016-10-10T01:00:00-07:00",
    }
    assert first["coverage"]["percentCoverage"] == 100.0
    assert first["parameter"] == {"id": 2, "name": "pm25", "units": "µg/m³", "displayName": None}

    small = httpx.get(
        f"{url}/v3/sensors/1502/hours",
        params={"datetime_from": "2016-10-10T08:00:00Z", "datetime_to": "2016-10-10T11:00:00Z"},
    ).json()
    assert small["meta"]["found"] == 3
    assert len(small["results"]) == 3


def test_fake_errors_have_json_detail_and_headers(url: str) -> None:
    missing = httpx.get(f"{url}/v3/locations/424242")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Location not found"}
    assert "x-ratelimit-remaining" in missing.headers
    # Like the real API: an unknown sensor's hours and an unknown location's sensors are
    # 200 with no results.
    assert httpx.get(f"{url}/v3/sensors/424242/hours").json()["results"] == []
    assert httpx.get(f"{url}/v3/locations/424242/sensors").json()["results"] == []
    backwards = {"datetime_from": "2016-10-11T00:00:00Z", "datetime_to": "2016-10-10T00:00:00Z"}
    assert httpx.get(f"{url}/v3/sensors/1502/hours", params=backwards).status_code == 422
    too_big = httpx.get(f"{url}/v3/sensors/1502/hours", params={"limit": 1001})
    assert too_big.status_code == 422
    assert "x-ratelimit-remaining" in too_big.headers


def test_fake_time_window_is_from_inclusive_to_exclusive(url: str) -> None:
    with _client(url) as client:
        parsed = client.hourly(
            BEIJING_SENSOR_ID, datetime(2013, 1, 1, tzinfo=UTC), datetime(2013, 1, 1, 3, tzinfo=UTC)
        )
    assert [r.ts for r in parsed.records] == [datetime(2013, 1, 1, h, tzinfo=UTC) for h in range(3)]


def test_fake_beijing_is_utc_and_omits_na_hours(url: str) -> None:
    # The CSV starts with 24 NA hours (2010-01-01 local); the first value is 129 at
    # 2010-01-02 00:00 local = 2010-01-01 16:00 UTC.
    with _client(url) as client:
        parsed = client.hourly(
            BEIJING_SENSOR_ID, datetime(2009, 1, 1, tzinfo=UTC), datetime(2010, 1, 2, tzinfo=UTC)
        )
    first = parsed.records[0]
    assert (first.ts, first.value, first.units, first.parameter) == (
        datetime(2010, 1, 1, 16, tzinfo=UTC),
        129.0,
        "µg/m³",
        "pm25",
    )
    body = httpx.get(f"{url}/v3/sensors/{BEIJING_SENSOR_ID}/hours", params={"limit": 1}).json()
    assert body["results"][0]["period"]["datetimeFrom"]["local"] == "2010-01-02T00:00:00+08:00"


def test_fake_serves_a_1000_record_page_fast(url: str) -> None:
    params = {"limit": 1000, "page": 7}
    with httpx.Client(base_url=url) as http:
        http.get(f"/v3/sensors/{BEIJING_SENSOR_ID}/hours", params=params).raise_for_status()
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            response = http.get(f"/v3/sensors/{BEIJING_SENSOR_ID}/hours", params=params)
            timings.append(time.perf_counter() - start)
            assert len(response.json()["results"]) == 1000
    assert statistics.median(timings) < 0.1


def test_fake_locations_sensors_parameters_measurements(url: str) -> None:
    with _client(url, api_key="test-key") as client:
        near = client.locations(coordinates=(39.95, 116.47), radius_m=2000)
        assert [loc["id"] for loc in near] == [BEIJING_LOCATION_ID]
        assert near[0]["name"] == "Beijing US Embassy"
        assert near[0]["timezone"] == "Asia/Shanghai"
        assert near[0]["distance"] < 2000
        in_box = client.locations(bbox=(-125.0, 30.0, -100.0, 45.0))
        assert {loc["id"] for loc in in_box} >= {847}
        assert [loc["id"] for loc in client.locations(iso="cn")] == [BEIJING_LOCATION_ID]
        by_id = client.locations(ids=[847, BEIJING_LOCATION_ID])
        assert [loc["id"] for loc in by_id] == [847, BEIJING_LOCATION_ID]
        assert by_id[0]["sensors"][0]["id"] == 1502

        sensors = client.sensors_of_location(BEIJING_LOCATION_ID)
        assert [(s["id"], s["parameter"]["units"]) for s in sensors] == [
            (BEIJING_SENSOR_ID, "µg/m³")
        ]
        names = {p["name"]: p for p in client.parameters()}
        assert (names["pm25"]["id"], names["o3"]["units"]) == (2, "ppm")

        raw = client.measurements(3917, "2016-10-10T06:00:00Z", "2016-10-10T10:00:00Z")
        assert [m["period"]["label"] for m in raw] == ["raw"] * 4
        assert [r.value for r in parse_hourly_page(raw, 3917).records] == [m["value"] for m in raw]
        assert client.sensors_of_location(1) == []
        with pytest.raises(OpenAQNotFoundError):
            client.locations(ids=[1])
    stats = _stats(url)
    assert stats["with_api_key"] == stats["total"]


def test_fake_admin_accepts_lists_and_rejects_unknown_fields(url: str) -> None:
    rules = [{"status": 500, "times": 1}, {"sensor_id": 3917, "malformed": True}]
    pending = httpx.post(f"{url}/_admin/faults", json=rules).json()["faults_pending"]
    assert [rule["times_left"] for rule in pending] == [1, None]
    assert httpx.post(f"{url}/_admin/faults", json={"stauts": 500}).status_code == 422
    assert httpx.get(f"{url}/v3/parameters").status_code == 500
    assert httpx.get(f"{url}/v3/parameters").status_code == 200  # malformed rule: series only
    assert _stats(url)["faults_pending"] == [
        {"sensor_id": 3917, "malformed": True, "times_left": None}
    ]


@pytest.mark.slow
def test_fake_runs_as_a_module() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).parent.parent
    command = [sys.executable, "-m", "hourcast_dev.openaq_fake", "--port", str(port)]
    command += ["--log-level", "warning", "--fault", '{"status": 503, "times": 1}']
    process = subprocess.Popen(command, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                first = httpx.get(f"http://127.0.0.1:{port}/v3/parameters", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, "the fake server exited"
                assert time.monotonic() < deadline, "the fake server did not start"
                time.sleep(0.1)
        assert first.status_code == 503
        with _client(f"http://127.0.0.1:{port}") as client:
            assert {p["name"] for p in client.parameters()} >= {"pm25", "o3"}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_fake_cli_rejects_a_bad_fault() -> None:
    with pytest.raises(SystemExit) as caught:
        fake_main(["--fault", '{"status": 200}'])
    assert caught.value.code == 2


# -- retries ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_429_with_retry_after_waits_before_retrying(url: str) -> None:
    _fault(url, sensor_id=1502, status=429, retry_after=2, times=1)
    with _client(url) as client:
        start = time.monotonic()
        parsed = client.hourly(1502, *ALL_1502)
        elapsed = time.monotonic() - start
    assert elapsed >= 2.0
    assert len(parsed.records) == 1000
    stats = _stats(url)
    # 429, its retry, then page 2 (page 1 was full, so the client must ask for more).
    assert stats["by_status"] == {"429": 1, "200": 2}
    assert stats["by_path"] == {"/v3/sensors/1502/hours": 3}


def test_500_twice_then_success_is_retried(url: str) -> None:
    _fault(url, status=500, times=2)
    with _client(url) as client:
        parsed = client.hourly(3917, "2016-10-10T06:00:00Z", "2016-10-11T06:00:00Z")
    assert len(parsed.records) == 24
    assert parsed.rejected == ()
    assert _stats(url)["by_status"] == {"500": 2, "200": 1}


def test_persistent_500_raises_after_max_retries(url: str) -> None:
    _fault(url, sensor_id=3917, status=500, detail="database on fire")
    with _client(url, max_retries=3) as client, pytest.raises(OpenAQServerError) as caught:
        client.hourly(3917, *ALL_1502)
    error = caught.value
    assert (error.status, error.path) == (500, "/v3/sensors/3917/hours")
    assert "database on fire" in str(error)
    assert "500" in str(error)
    assert _stats(url)["by_path"] == {"/v3/sensors/3917/hours": 4}  # 1 + max_retries


def test_client_errors_are_not_retried(url: str) -> None:
    with _client(url) as client:
        with pytest.raises(OpenAQNotFoundError) as caught:
            client.locations(ids=[424242])
        assert str(caught.value) == (
            "OpenAQ API answered 404 for /v3/locations/424242: Location not found"
        )
        with pytest.raises(OpenAQClientError) as invalid:
            client.get_json("/v3/sensors/1502/hours", {"limit": 1001})
        assert invalid.value.status == 422
        assert "less than or equal to 1000" in invalid.value.message
        _fault(url, status=403, detail="Invalid API key", times=1)
        with pytest.raises(OpenAQClientError, match="403 for /v3/parameters: Invalid API key"):
            client.parameters()
    assert _stats(url)["total"] == 3


def test_timeout_is_retried(url: str) -> None:
    _fault(url, sensor_id=1502, delay_s=1.0, times=1)
    with _client(url, timeout=0.3) as client:
        parsed = client.hourly(1502, "2016-10-10T08:00:00Z", "2016-10-10T12:00:00Z")
    assert len(parsed.records) == 4
    assert _stats(url)["by_path"] == {"/v3/sensors/1502/hours": 2}


def test_connection_errors_are_bounded() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fake = FakeTime()
    with (
        OpenAQClient(f"http://127.0.0.1:{port}", max_retries=2, sleep=fake.sleep) as client,
        pytest.raises(OpenAQTransportError, match="after 3 attempt"),
    ):
        client.parameters()
    assert client.request_count == 3
    assert len(fake.sleeps) == 2


# -- pagination ------------------------------------------------------------------------------


def test_pagination_yields_every_record_once(url: str) -> None:
    with _client(url, page_limit=100) as client:
        pages = client.iter_hourly(1502, *ALL_1502)
        first = next(pages)
        assert _stats(url)["total"] == 1  # lazy: one request per page consumed
        rest = list(pages)
    all_pages = [first, *rest]
    records = [r for page in all_pages for r in page.records]
    assert [page.page for page in all_pages] == list(range(1, 12))
    assert [len(page.records) for page in all_pages] == [100] * 10 + [0]
    assert len({r.ts for r in records}) == len(records) == 1000
    recorded = json.loads((FIXTURES / "sensor_1502_hours.json").read_text(encoding="utf-8"))
    assert tuple(records) == parse_hourly_page(recorded, 1502).records
    assert _stats(url)["total"] == 11


def test_pagination_over_beijing_with_limit_100(url: str) -> None:
    start, end = datetime(2012, 3, 1, tzinfo=UTC), datetime(2012, 3, 20, tzinfo=UTC)
    expected = _beijing_hours(start, end)
    with _client(url) as client:
        parsed = client.hourly(BEIJING_SENSOR_ID, start, end, limit=100)
    assert {r.ts: r.value for r in parsed.records} == expected
    assert len(parsed.records) == len(expected)
    assert _stats(url)["total"] == len(expected) // 100 + 1
    assert _stats(url)["total"] > 3


def test_backfill_365_days_takes_at_most_10_requests(url: str) -> None:
    start, end = datetime(2013, 1, 1, tzinfo=UTC), datetime(2014, 1, 1, tzinfo=UTC)
    expected = _beijing_hours(start, end)
    with _client(url, page_limit=1000) as client:
        parsed = client.hourly(BEIJING_SENSOR_ID, start, end)
    records: list[HourlyRecord] = list(parsed.records)
    assert parsed.rejected == ()
    assert {r.ts: r.value for r in records} == expected
    assert [r.ts for r in records] == sorted(expected)
    assert 8000 < len(records) < 365 * 24  # NA hours are gaps
    stats = _stats(url)
    assert stats["by_sensor"] == {str(BEIJING_SENSOR_ID): stats["total"]}
    assert stats["total"] <= 10


# -- rate limit ------------------------------------------------------------------------------


@pytest.mark.slow
def test_rate_limit_remaining_zero_waits_until_reset(url: str) -> None:
    httpx.post(f"{url}/_admin/ratelimit", json={"limit": 2, "window_s": 2.0}).raise_for_status()
    with _client(url, page_limit=100, ratelimit_min_remaining=0) as client:
        start = time.monotonic()
        pages = list(itertools.islice(client.iter_hourly(1502, *ALL_1502), 3))
        elapsed = time.monotonic() - start
        assert client.rate_limit is not None
    assert [len(p.records) for p in pages] == [100, 100, 100]
    stats = _stats(url)
    # The third request waited for the window to reset instead of drawing a 429.
    assert stats["by_status"] == {"200": 3}
    assert elapsed >= 2.0


# -- malformed data --------------------------------------------------------------------------


def test_malformed_records_are_rejected_with_reasons(url: str) -> None:
    _fault(url, sensor_id=BEIJING_SENSOR_ID, malformed=True, times=1)
    start, end = datetime(2013, 1, 1, tzinfo=UTC), datetime(2013, 1, 3, tzinfo=UTC)
    with _client(url) as client:
        first = client.hourly(BEIJING_SENSOR_ID, start, end)
        again = client.hourly(BEIJING_SENSOR_ID, start, end)
    assert [(r.index, r.reason) for r in first.rejected] == [
        (1, RejectReason.BAD_TIMESTAMP),
        (3, RejectReason.NON_NUMERIC_VALUE),
        (5, RejectReason.UNKNOWN_UNITS),
        (7, RejectReason.DUPLICATE_HOUR),
    ]
    assert all(r.detail for r in first.rejected)
    assert len(first.records) == len(again.records) - 4
    assert again.rejected == ()  # the fault was for one page only


# -- unit tests: injected clock and sleep, real HTTP -----------------------------------------


def test_retry_after_is_honoured_with_injected_sleep(url: str) -> None:
    _fault(url, status=503, retry_after=30, times=2)
    fake = FakeTime()
    with _client(url, sleep=fake.sleep, clock=fake.clock) as client:
        client.parameters()
    assert len(fake.sleeps) == 2
    assert all(s >= 30 for s in fake.sleeps)


def test_retry_after_longer_than_max_wait_raises(url: str) -> None:
    _fault(url, status=429, retry_after=3600, times=1)
    fake = FakeTime()
    with (
        _client(url, sleep=fake.sleep, clock=fake.clock, max_wait_s=60) as client,
        pytest.raises(OpenAQRateLimitError, match="3600"),
    ):
        client.parameters()
    assert fake.sleeps == []


def test_backoff_is_exponential_with_full_jitter(url: str) -> None:
    _fault(url, status=502)
    fake = FakeTime()
    with (
        OpenAQClient(
            url,
            max_retries=6,
            backoff_base=0.5,
            backoff_max=4.0,
            sleep=fake.sleep,
            clock=fake.clock,
        ) as client,
        pytest.raises(OpenAQServerError),
    ):
        client.parameters()
    caps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(fake.sleeps) == len(caps)
    assert all(0 <= s <= cap for s, cap in zip(fake.sleeps, caps, strict=True))
    assert client.request_count == 7


def test_rate_limit_sleep_uses_reset_header(url: str) -> None:
    httpx.post(f"{url}/_admin/ratelimit", json={"limit": 3, "window_s": 60}).raise_for_status()
    fake = FakeTime()
    with _client(url, page_limit=100, sleep=fake.sleep, clock=fake.clock) as client:
        list(itertools.islice(client.iter_hourly(1502, *ALL_1502), 2))
        assert fake.sleeps == []  # remaining 1 after the second request...
        next(itertools.islice(client.iter_hourly(1502, *ALL_1502), 1))
    # ...so the third request waited for the reset the server announced (whole seconds).
    assert len(fake.sleeps) == 1
    assert 58 <= fake.sleeps[0] <= 60


def test_constructor_validates_arguments() -> None:
    with pytest.raises(ValueError, match="page_limit"):
        OpenAQClient(page_limit=1001)
    with pytest.raises(ValueError, match="max_retries"):
        OpenAQClient(max_retries=-1)
    with OpenAQClient() as client, pytest.raises(ValueError, match="coordinates and radius_m"):
        client.locations(coordinates=(1.0, 2.0))


def test_429_like_the_real_api_has_only_the_reset_header_and_the_client_waits_for_it(
    url: str,
) -> None:
    httpx.post(f"{url}/_admin/ratelimit", json={"limit": 1, "window_s": 2.0}).raise_for_status()
    httpx.get(f"{url}/v3/parameters").raise_for_status()
    refused = httpx.get(f"{url}/v3/parameters")
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers
    assert int(refused.headers["x-ratelimit-reset"]) >= 1
    with _client(url, ratelimit_min_remaining=-1, backoff_base=0.0) as client:
        start = time.monotonic()
        names = {p["name"] for p in client.parameters()}
        elapsed = time.monotonic() - start
    assert "pm25" in names
    assert elapsed >= 1.0  # waited for x-ratelimit-reset, not the (zero) backoff
    assert _stats(url)["by_status"]["429"] >= 2


def test_fake_reads_a_time_without_offset_as_the_location_local_time(url: str) -> None:
    # Beijing is UTC+8: local 08:00-11:00 is 00:00-03:00 UTC (hours ending 01:00..03:00).
    params = {"datetime_from": "2013-01-01T08:00:00", "datetime_to": "2013-01-01T11:00:00"}
    body = httpx.get(f"{url}/v3/sensors/{BEIJING_SENSOR_ID}/hours", params=params).json()
    starts = [r["period"]["datetimeFrom"]["utc"] for r in body["results"]]
    assert starts == ["2013-01-01T00:00:00Z", "2013-01-01T01:00:00Z", "2013-01-01T02:00:00Z"]
