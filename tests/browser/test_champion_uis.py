"""The champion in the browser: a forecast from the API docs page, its alias in the MLflow UI.

This module's own stores: a PostgreSQL observation store with the last 160 days of the bundled
traffic CSV, a tracking server (SQLite backend, local artifacts) where the training steps the
pipeline uses (``fit_and_log`` on 150 days, 20 trees, then ``register_trained`` through the
promotion gate) made version 1 the champion, and the API (authentication on) serving it, with
a user who signs in on the docs page.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import mlflow
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from hourcast.auth.store import add_user
from hourcast.ingestion.pipeline import run_traffic
from hourcast.series import TRAFFIC_I94
from hourcast.settings import BUNDLED_TRAFFIC_CSV, Settings
from hourcast.storage.db import create_db_engine, upgrade_database
from hourcast.targets import TRAFFIC_TARGET
from hourcast.training.data import load_training_frame, prepare_training_frame
from hourcast.training.fit import fit_and_log
from hourcast.training.register import RegisteredVersion, register_trained
from inference_api.main import create_app, registry_loader
from tests.browser.conftest import Screenshots
from tests.conftest import ApiServer, PostgresDatabases, sqlite_mlflow_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USERNAME = "docs-reader"
STORED_DAYS = 160
TRAINING_DAYS = 150


@dataclass(frozen=True)
class Served:
    api: str
    tracking_uri: str
    password: str  # USERNAME's
    champion: RegisteredVersion


def _train_champion(settings: Settings) -> RegisteredVersion:
    """A quick training run of the traffic target, registered through the promotion gate."""
    frame = prepare_training_frame(
        load_training_frame(settings=settings, target="traffic", train_end=None)
    )
    frame = frame[frame.ts > frame.ts.max() - pd.Timedelta(days=TRAINING_DAYS)]
    trained = fit_and_log(
        frame,
        target="traffic",
        settings=settings,
        train_end=None,
        num_boost_round=20,
        holdout_days=3,
    )
    return register_trained(trained, settings=settings)


def _fill_stores(settings: Settings, traffic_csv: Path) -> tuple[RegisteredVersion, str]:
    """Observations, a champion and the docs reader; returns the champion and its password."""
    upgrade_database(settings.resolved_database_url)
    assert run_traffic(settings=settings, source=str(traffic_csv)).status == "succeeded"
    champion = _train_champion(settings)
    assert champion.alias == "champion", champion.reason
    password = secrets.token_urlsafe(16)
    engine = create_db_engine(settings.resolved_database_url)
    add_user(engine, username=USERNAME, password=password, role="user")
    engine.dispose()
    return champion, password


def _wait_ready(url: str, timeout: float = 120) -> None:
    """Until the API's /ready says every served model is loaded."""
    deadline = time.monotonic() + timeout
    while httpx.get(f"{url}/ready", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, f"{url}/ready: {httpx.get(f'{url}/ready').text}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def served(
    postgres: PostgresDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("champion-uis")
    raw = pd.read_csv(BUNDLED_TRAFFIC_CSV)
    recent = root / "traffic_recent.csv"
    raw[raw.date_time >= raw.date_time.iloc[-STORED_DAYS * 24]].to_csv(recent, index=False)
    store = postgres.create("browser_store")
    previous_uri = mlflow.get_tracking_uri()
    try:
        with pytest.MonkeyPatch.context() as env:
            # Without its job runner (MLflow's own background jobs, which nothing here uses)
            # the tracking server starts in half the time on two cores.
            env.setenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            with sqlite_mlflow_server(root) as tracking_uri:
                settings = Settings(
                    home=root,
                    database_url=store,
                    mlflow_tracking_uri=tracking_uri,
                    api_models=("traffic",),
                )
                champion, password = _fill_stores(settings, recent)
                # registry_loader sets MLflow's HTTP retry variables unless set: scoped here.
                env.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
                env.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
                with ApiServer(create_app(settings, registry_loader(settings))) as api:
                    _wait_ready(api)
                    yield Served(api, tracking_uri, password, champion)
    finally:
        mlflow.set_tracking_uri(previous_uri)
        postgres.drop(store)


def test_the_docs_page_executes_a_forecast_with_a_token(
    served: Served, page: Page, screenshots: Screenshots
) -> None:
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc or "(inline)"))
    page.goto(f"{served.api}/docs")
    forecast = page.locator(".opblock-post").filter(has=page.locator('[data-path="/v1/forecast"]'))
    forecast.locator(".opblock-summary").click()
    forecast.get_by_role("button", name="Try it out").click()
    # The operation's first example: the traffic series from the stored observations.
    body = json.loads(forecast.locator("textarea.body-param__text").input_value())
    assert body["series_id"] == TRAFFIC_I94.series_id
    status = forecast.locator(".live-responses-table .response .response-col_status")

    forecast.get_by_role("button", name="Execute").click()  # no token yet
    expect(status).to_have_text("401")
    screenshots.take(page, "without-token")

    # The Authorize dialog's OAuth2 password flow: Swagger UI gets a token from
    # POST /v1/auth/token and sends it as a bearer token from then on.
    page.get_by_role("button", name="Authorize").first.click()
    page.locator("#oauth_username").fill(USERNAME)
    page.locator("#oauth_password").fill(served.password)
    page.get_by_role("button", name="Apply given OAuth2 credentials").click()
    expect(page.get_by_text("Authorized", exact=True)).to_be_visible()
    screenshots.take(page, "authorized")
    page.locator(".modal-ux .close-modal").click()

    forecast.get_by_role("button", name="Execute").click()
    expect(status).to_have_text("200")
    expect(forecast.locator(".curl-command")).to_contain_text("Authorization: Bearer ")
    answer = json.loads(
        forecast.locator(
            ".live-responses-table .response-col_description .microlight"
        ).first.inner_text()
    )
    forecast.locator(".live-responses-table").scroll_into_view_if_needed()
    screenshots.take(page, "forecast-200")

    assert answer["series_id"] == body["series_id"]
    champion = {"name": TRAFFIC_TARGET.model_name, "version": served.champion.version}
    assert answer["model"] == champion
    assert len(answer["forecast"]) == body.get("horizon", 24)
    assert all(isinstance(hour["value"], float) for hour in answer["forecast"])
    # Swagger UI's assets come from the API itself, not from a CDN.
    assert hosts - {"(inline)"} == {urlsplit(served.api).netloc}


def test_the_mlflow_ui_shows_the_champion_alias(
    served: Served, page: Page, screenshots: Screenshots
) -> None:
    # MLflow 3 greets a new browser with a dialog about its registry UI: take the new one.
    promo = page.get_by_role("dialog").filter(has_text="New Model Registry UI")
    page.add_locator_handler(promo, lambda: promo.get_by_role("button", name="Try it now").click())
    name, version = served.champion.name, served.champion.version

    page.goto(f"{served.tracking_uri}/#/models")
    model = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    expect(model).to_contain_text(re.compile(rf"@\s*champion\s*:\s*Version {version}"))
    screenshots.take(page, "registered-models")

    model.get_by_role("link", name=name, exact=True).click()
    version_link = page.get_by_role("link", name=f"Version {version}", exact=True)
    row = page.get_by_role("row").filter(has=version_link)
    expect(
        row.get_by_role("cell").filter(has_text=re.compile(r"^\s*@\s*champion\s*$"))
    ).to_have_count(1)
    # The promotion gate's reason, as a version tag.
    expect(row).to_contain_text(f"champion: {served.champion.reason}")
    screenshots.take(page, "model-versions")
