"""The Mage UI in Chromium: sign in, the project's pipelines, a block's code, a run from the UI.

Mage runs as production runs it (``orchestration/entrypoint.sh``): user authentication on, an
owner account and a session signing key of its own (never Mage's admin/admin), its metadata in
PostgreSQL. It serves a copy of ``orchestration/`` (Mage writes synced triggers back into
``triggers.yaml``) without the schedules, so that the only pipeline run is the one the test
starts from the UI.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from playwright.sync_api import Browser, Locator, Page, StorageState, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from hourcast.settings import BUNDLED_TRAFFIC_CSV
from hourcast_dev import local_stack
from tests.browser.conftest import Screenshots, open_page
from tests.conftest import ROOT, PostgresDatabases

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROJECT = ROOT / "orchestration"
OWNER_EMAIL = "owner@hourcast.test"
# The pipeline run from the UI, and the traffic hours it ingests: two weeks, a few seconds.
RUN_PIPELINE = "ingest_traffic"
SAMPLE_HOURS = 14 * 24


def project_pipelines() -> dict[str, dict[str, Any]]:
    """Each pipeline of ``orchestration/pipelines/`` on disk: its uuid and its metadata."""
    return {
        path.parent.name: yaml.safe_load(path.read_text())
        for path in sorted((PROJECT / "pipelines").glob("*/metadata.yaml"))
    }


def block_source(block: dict[str, Any]) -> Path:
    """The file of a block as Mage lays out a project: ``<type>s/<uuid>.py``."""
    folder = "custom" if block["type"] == "custom" else f"{block['type']}s"
    return PROJECT / folder / f"{block['uuid']}.py"


def code_lines(text: str) -> list[str]:
    """The non-blank lines of code, as an editor shows them (non-breaking spaces as spaces)."""
    lines = (line.replace("\xa0", " ").rstrip() for line in text.splitlines())
    return sorted(line for line in lines if line.strip())


def _rows(url: str, query: str) -> list[sa.Row[Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(query)).all())
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Mage:
    url: str
    password: str
    metadata_url: str  # Mage's own database
    store_url: str  # the observation store its pipelines write to
    sample_csv: Path  # a two-week slice of the bundled traffic CSV


@pytest.fixture(scope="module")
def mage(
    postgres: PostgresDatabases, mage_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mage]:
    root = tmp_path_factory.mktemp("mage-ui")
    project = root / "project" / "orchestration"
    shutil.copytree(
        PROJECT,
        project,
        ignore=shutil.ignore_patterns(
            ".file_versions", ".ssh_tunnel", "__pycache__", "triggers.yaml"
        ),
    )
    raw = pd.read_csv(BUNDLED_TRAFFIC_CSV)
    sample_csv = root / "traffic_sample.csv"
    raw[raw.date_time >= raw.date_time.iloc[-SAMPLE_HOURS]].to_csv(sample_csv, index=False)

    metadata_url = postgres.create("mage_ui_meta")
    store_url = postgres.create("mage_ui_store")
    password = secrets.token_urlsafe(16)
    env = {
        "REQUIRE_USER_AUTHENTICATION": "1",
        "DEFAULT_OWNER_EMAIL": OWNER_EMAIL,
        "DEFAULT_OWNER_USERNAME": "owner",
        "DEFAULT_OWNER_PASSWORD": password,
        "JWT_SECRET": secrets.token_urlsafe(32),
        "MAGE_DATABASE_CONNECTION_URL": metadata_url,
        "MAGE_DATA_DIR": str(root / "mage_data"),
        "HOURCAST_DATABASE_URL": store_url,
        "HOURCAST_HOME": str(root / "home"),
    }
    port = local_stack.free_port()
    service = local_stack.mage_service(port=port, mage_python=mage_python, env=env)
    command = [*service.command[:2], str(project), *service.command[3:]]
    run_dir = root / "run"  # the PID file and mage.log
    local_stack.start(replace(service, command=command, cwd=project.parent), run_dir)
    try:
        yield Mage(f"http://127.0.0.1:{port}", password, metadata_url, store_url, sample_csv)
    finally:
        local_stack.stop(run_dir, "mage")
        postgres.drop(metadata_url)
        postgres.drop(store_url)


def sign_in(page: Page, mage: Mage, password: str) -> None:
    """Fill in and send Mage's sign-in form (the page must show it)."""
    # The placeholders turn into labels once a field holds text: find the fields by kind.
    page.locator("input[autocomplete=username]").fill(OWNER_EMAIL)
    page.locator("input[type=password]").fill(password)
    page.get_by_role("button", name="Sign into Mage").click()


@pytest.fixture(scope="module")
def signed_in(mage: Mage, browser: Browser) -> StorageState:
    """The owner's session (cookie and local storage), signed in through the form once."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{mage.url}/sign-in")
        sign_in(page, mage, mage.password)
        page.wait_for_url(lambda url: "/sign-in" not in url)
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture
def mage_page(
    browser: Browser,
    signed_in: StorageState,
    request: pytest.FixtureRequest,
    screenshots: Screenshots,
) -> Iterator[Page]:
    with open_page(browser, request, screenshots, storage_state=signed_in) as page:
        yield page


def open_run_once_form(page: Page, mage: Mage, attempts: int = 3) -> Locator:
    """Open the triggers page's "Run pipeline now" form; the row of its ``source`` variable.

    The form copies the pipeline's variables when it opens and never again, so opened before
    ``GET .../variables`` has answered (a busy machine) it stays without rows: wait for that
    answer first, and reopen the form if the rows are still missing.
    """
    variables = f"/api/pipelines/{RUN_PIPELINE}/variables"
    with page.expect_response(lambda response: variables in response.url) as answer:
        page.goto(f"{mage.url}/pipelines/{RUN_PIPELINE}/triggers")
    assert answer.value.ok, f"{variables}: HTTP {answer.value.status}"
    row = page.get_by_role("row", name="source")
    title = page.get_by_text("Run pipeline now", exact=True)
    for _ in range(attempts):
        page.get_by_role("button", name="Run@once").click()
        expect(title).to_be_visible()
        try:
            row.wait_for(state="visible", timeout=15_000)
        except PlaywrightTimeoutError:
            page.get_by_role("button", name="Cancel", exact=True).click()
            expect(title).to_be_hidden()
            continue
        return row
    pytest.fail(f"the Run pipeline now form showed no `source` row in {attempts} openings")


def test_mage_asks_for_a_sign_in_and_refuses_a_wrong_password(
    mage: Mage, page: Page, screenshots: Screenshots
) -> None:
    page.goto(f"{mage.url}/pipelines")
    page.wait_for_url("**/sign-in**")
    sign_in(page, mage, "admin")  # Mage's default password is not this owner's
    expect(page.get_by_text("Email/username and/or password invalid.")).to_be_visible()
    screenshots.take(page, "wrong-password")

    sign_in(page, mage, mage.password)
    page.wait_for_url(lambda url: "/sign-in" not in url)
    user = json.loads(page.evaluate("localStorage.getItem('current_user')"))
    assert (user["username"], user["roles_display"]) == ("owner", "Owner")


def test_the_pipelines_page_lists_the_project_pipelines(
    mage: Mage, mage_page: Page, screenshots: Screenshots
) -> None:
    pipelines = project_pipelines()
    assert {"ingest_traffic", "ingest_openaq", "train"} <= set(pipelines)
    mage_page.goto(f"{mage.url}/pipelines")
    for metadata in pipelines.values():
        expect(mage_page.get_by_text(metadata["name"], exact=True)).to_be_visible()
    expect(mage_page.get_by_text(f"All pipelines › {len(pipelines)}")).to_be_visible()
    screenshots.take(mage_page, "pipelines")


def test_the_editor_shows_a_block_code(
    mage: Mage, mage_page: Page, screenshots: Screenshots
) -> None:
    block = project_pipelines()[RUN_PIPELINE]["blocks"][0]
    source = block_source(block)
    signature = re.compile(rf"def\s+{block['uuid']}\(")
    mage_page.goto(f"{mage.url}/pipelines/{RUN_PIPELINE}/edit")
    editor = mage_page.locator(".monaco-editor").filter(has_text=signature)
    expect(editor).to_have_count(1)
    shown = editor.locator(".view-line").all_inner_texts()
    assert code_lines("\n".join(shown)) == code_lines(source.read_text())
    screenshots.take(mage_page, "editor")


def test_a_pipeline_run_started_from_the_ui_completes(
    mage: Mage, mage_page: Page, screenshots: Screenshots
) -> None:
    blocks = len(project_pipelines()[RUN_PIPELINE]["blocks"])
    # The pipeline's variables are the form's rows; `source` reads the two-week sample.
    source = open_run_once_form(mage_page, mage).get_by_placeholder("Variable value")
    source.fill(str(mage.sample_csv))
    screenshots.take(mage_page, "run-once-form")
    mage_page.get_by_role("button", name="Run now").click()

    # Run@once makes a trigger with a random name; the runs page shows its run.
    once = mage_page.get_by_role("row").filter(has_text="@once")
    expect(once).to_have_count(1)
    (trigger,) = _rows(
        mage.metadata_url, "SELECT name FROM pipeline_schedule WHERE schedule_interval = '@once'"
    )
    expect(once).to_contain_text(trigger.name)
    mage_page.goto(f"{mage.url}/pipelines/{RUN_PIPELINE}/runs")
    run = mage_page.get_by_role("row").filter(has_text=trigger.name)
    expect(run).to_contain_text(re.compile("Done|Failed|Cancelled"), timeout=300_000)
    screenshots.take(mage_page, "run-done")
    expect(run).to_contain_text("Done")
    expect(run).to_contain_text(re.compile(rf"{blocks}\s*/\s*{blocks}"))

    runs = _rows(mage.metadata_url, "SELECT pipeline_uuid, status, variables FROM pipeline_run")
    assert [(r.pipeline_uuid, r.status) for r in runs] == [(RUN_PIPELINE, "COMPLETED")]
    assert runs[0].variables["source"] == str(mage.sample_csv)  # a json column
    hours = pd.read_csv(mage.sample_csv).date_time.nunique()
    ingested = _rows(mage.store_url, "SELECT status, rows_inserted FROM ingestion_runs")
    assert [tuple(r) for r in ingested] == [("succeeded", hours)]
