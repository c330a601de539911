"""``hourcast users`` and ``hourcast keys`` on a real PostgreSQL store."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from hourcast.auth.store import ApiKeyVerifier, authenticate
from hourcast.cli import app
from hourcast.cli import keys as keys_cli
from hourcast.cli import users as users_cli
from hourcast.settings import get_settings
from hourcast.storage.db import create_db_engine
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture
def store(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    # The CLI reads the settings once per process; here, once per test.
    monkeypatch.setenv("HOURCAST_DATABASE_URL", pg_url)
    # Wide tables, so that rows stay on one line: the consoles are made at import, when
    # COLUMNS may not be set yet (it is not under pytest-xdist's workers).
    for console in (keys_cli.console, users_cli.console):
        monkeypatch.setattr(console, "width", 160)
    get_settings.cache_clear()
    engine = create_db_engine(pg_url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


def test_users_add_list_disable(store: sa.Engine) -> None:
    password = secrets.token_urlsafe(16)
    code, output = _run(
        "users", "add", "alice", "--role", "admin", "--password-stdin", stdin=password
    )
    assert code == 0, output
    assert "user alice (admin) can sign in" in output
    assert authenticate(store, username="alice", password=password) is not None

    code, output = _run("users", "add", "bob", stdin=f"{password}\n{password}\n")  # prompted twice
    assert code == 0, output

    code, output = _run("users", "list")
    assert code == 0
    assert re.search(r"alice\s+│\s+admin\s+│.*│\s+active", output), output
    assert re.search(r"bob\s+│\s+user\s+│", output)

    assert _run("users", "disable", "alice")[0] == 0
    assert authenticate(store, username="alice", password=password) is None
    assert re.search(
        r"alice\s+│\s+admin\s+│.*│\s+disabled \d{4}-\d\d-\d\d", _run("users", "list")[1]
    )


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("users", "add", "carol", "--password-stdin"), "short", "at least 12 characters"),
        (("users", "add", "carol", "-r", "root", "--password-stdin"), "x" * 12, "role must be"),
        (("users", "disable", "nobody"), None, "no active user 'nobody'"),
        (("keys", "revoke", "0123456789ab"), None, "no active key '0123456789ab'"),
        (("keys", "create", "svc", "--role", "owner"), None, "role must be one of user, admin"),
    ],
)
def test_bad_commands_fail_naming_what_is_wrong(
    store: sa.Engine, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    code, output = _run(*args, stdin=stdin)
    assert code == 1
    assert message in output


def test_keys_create_list_revoke(store: sa.Engine) -> None:
    code, output = _run("keys", "create", "billing", "--role", "user")
    assert code == 0, output
    key = output.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    assert f"key {key_id} for billing (user); shown only now" in output
    verifier = ApiKeyVerifier(store)
    assert verifier.verify(key) is not None

    listing = _run("keys", "list")[1]
    assert key not in listing
    assert re.search(rf"{key_id}\s+│\s+billing\s+│\s+user\s+│.*\d\d:\d\d\s+│\s+active", listing)

    assert _run("keys", "revoke", key_id)[0] == 0
    assert verifier.verify(key) is None
    assert re.search(rf"{key_id}.*revoked \d{{4}}", _run("keys", "list")[1])


@pytest.mark.slow
def test_the_console_script_adds_a_user_from_stdin(pg_url: str) -> None:
    # The installed `hourcast` command, as make demo and operators run it.
    env = {**os.environ, "HOURCAST_DATABASE_URL": pg_url, "COLUMNS": "160"}
    script = os.path.join(os.path.dirname(sys.executable), "hourcast")
    password = secrets.token_urlsafe(16)
    added = subprocess.run(
        [script, "users", "add", "demo", "--password-stdin"],
        input=password + "\n",
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [script, "users", "list"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert "demo" in listed.stdout
