"""Auth core: password hashes, tokens, API keys, and users/keys in a real PostgreSQL store."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from hourcast.auth.api_keys import hash_api_key, key_id_of, new_api_key
from hourcast.auth.mode import AuthModeError, auth_required
from hourcast.auth.passwords import hash_password, verify_password
from hourcast.auth.principals import Principal
from hourcast.auth.store import (
    ApiKeyVerifier,
    AuthStoreError,
    AuthStoreUnavailableError,
    add_user,
    authenticate,
    create_api_key,
    disable_user,
    list_api_keys,
    list_users,
    revoke_api_key,
)
from hourcast.auth.tokens import (
    InvalidTokenError,
    SigningKeyError,
    issue_token,
    read_token,
    signing_key,
)
from hourcast.settings import Settings
from hourcast.storage.schema import api_keys, users

KEY = secrets.token_urlsafe(32)


def _password() -> str:
    return secrets.token_urlsafe(16)


def test_password_hashes_are_salted_argon2id() -> None:
    password = _password()
    first, second = hash_password(password), hash_password(password)
    assert first.startswith("$argon2id$")
    assert first != second
    assert verify_password(password, first)
    assert verify_password(password, second)
    assert not verify_password(password + "x", first)


def test_a_token_names_its_user_and_role() -> None:
    issued = issue_token(username="alice", role="admin", key=KEY, minutes=5)
    assert read_token(issued.token, key=KEY) == Principal("user", "alice", "admin")
    assert timedelta(minutes=4) < issued.expires_at - datetime.now(UTC) <= timedelta(minutes=5)


def test_an_expired_token_is_refused() -> None:
    past = datetime.now(UTC) - timedelta(minutes=10)
    issued = issue_token(username="alice", role="user", key=KEY, minutes=5, now=past)
    with pytest.raises(InvalidTokenError, match="expired"):
        read_token(issued.token, key=KEY)


def test_a_token_read_while_valid_is_refused_once_it_expires() -> None:
    """The signature check is cached per token; the expiry is not."""
    soon = datetime.now(UTC) - timedelta(minutes=1) + timedelta(seconds=2)
    issued = issue_token(username="alice", role="user", key=KEY, minutes=1, now=soon)
    assert read_token(issued.token, key=KEY).name == "alice"
    time.sleep(max(0.0, (issued.expires_at - datetime.now(UTC)).total_seconds()) + 0.1)
    with pytest.raises(InvalidTokenError, match="expired"):
        read_token(issued.token, key=KEY)


def test_a_tampered_token_is_refused() -> None:
    token = issue_token(username="alice", role="user", key=KEY, minutes=5).token
    header, payload, signature = token.split(".")
    # The same claims with role admin, keeping the original signature.
    forged_claims = jwt.encode(
        {**jwt.decode(token, options={"verify_signature": False}), "role": "admin"},
        "another key of thirty-two characters at least",
        algorithm="HS256",
    ).split(".")[1]
    for forged in (
        f"{header}.{forged_claims}.{signature}",
        f"{header}.{payload}.{signature[:5]}{'B' if signature[5] == 'A' else 'A'}{signature[6:]}",
        jwt.encode({"sub": "alice", "role": "admin"}, key=None, algorithm="none"),  # type: ignore[arg-type]
        "not.a.token",
    ):
        with pytest.raises(InvalidTokenError, match="not valid"):
            read_token(forged, key=KEY)
    with pytest.raises(InvalidTokenError):
        read_token(token, key=secrets.token_urlsafe(32))  # signed with another key


def test_a_token_without_a_known_role_is_refused() -> None:
    now = datetime.now(UTC)
    claims = {"sub": "a", "role": "root", "iss": "hourcast", "iat": now, "exp": now + timedelta(1)}
    with pytest.raises(InvalidTokenError):
        read_token(jwt.encode(claims, KEY, algorithm="HS256"), key=KEY)


def test_signing_key_from_settings_or_a_local_file(tmp_path: Path) -> None:
    assert signing_key(Settings(jwt_secret_key=SecretStr(KEY))) == KEY
    with pytest.raises(SigningKeyError, match="HOURCAST_JWT_SECRET_KEY"):
        signing_key(Settings(jwt_secret_key=SecretStr("short")))
    local = Settings(home=tmp_path, jwt_secret_key=None)
    # Made once and shared: many workers starting at once all read the same key.
    keys: list[str] = []
    threads = [threading.Thread(target=lambda: keys.append(signing_key(local))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1
    assert len(keys[0]) >= 32
    path = tmp_path / "jwt-signing-key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no draft left behind


def test_auth_off_is_refused_in_production() -> None:
    assert auth_required(Settings())
    assert not auth_required(Settings(api_auth="off"))
    with pytest.raises(AuthModeError, match="HOURCAST_API_AUTH=off is refused"):
        auth_required(Settings(api_auth="off", env="production"))


def test_api_keys_carry_a_public_id_and_store_only_a_hash() -> None:
    key_id, key = new_api_key()
    assert key_id_of(key) == key_id
    assert key.startswith(f"hck_{key_id}_")
    assert len(key) - len(f"hck_{key_id}_") == 43  # 256 random bits
    assert key_id_of(key + "x") is None
    assert key_id_of("hck_nothex_") is None
    assert hash_api_key(key) == hash_api_key(key) != hash_api_key(new_api_key()[1])


# -- the store, on PostgreSQL ---------------------------------------------------------------


@pytest.mark.integration
def test_users_sign_in_with_their_password_until_disabled(engine: sa.Engine) -> None:
    password = _password()
    added = add_user(engine, username="alice", password=password, role="admin")
    assert (added.username, added.role, added.disabled_at) == ("alice", "admin", None)
    stored = _scalar(engine, sa.select(users.c.password_hash))
    assert password not in stored
    assert stored.startswith("$argon2id$")

    assert authenticate(engine, username="alice", password=password) == Principal(
        "user", "alice", "admin"
    )
    assert authenticate(engine, username="alice", password=_password()) is None
    assert authenticate(engine, username="bob", password=password) is None

    assert disable_user(engine, username="alice")
    assert not disable_user(engine, username="alice")  # already disabled
    assert authenticate(engine, username="alice", password=password) is None
    assert list_users(engine)[0].disabled_at is not None

    again = add_user(engine, username="alice", password=password, role="user", replace=True)
    assert (again.role, again.disabled_at) == ("user", None)
    assert authenticate(engine, username="alice", password=password) is not None


@pytest.mark.integration
@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("", "x" * 12, "user", "username must be"),
        ("a b", "x" * 12, "user", "username must be"),
        ("carol", "x" * 11, "user", "at least 12 characters"),
        ("carol", "x" * 12, "root", "role must be one of user, admin"),
    ],
)
def test_bad_users_are_refused_naming_the_field(
    engine: sa.Engine, username: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(AuthStoreError, match=message):
        add_user(engine, username=username, password=password, role=role)
    assert list_users(engine) == []


@pytest.mark.integration
def test_a_username_is_added_once(engine: sa.Engine) -> None:
    add_user(engine, username="alice", password=_password())
    with pytest.raises(AuthStoreError, match="exists already"):
        add_user(engine, username="alice", password=_password())


@pytest.mark.integration
def test_an_api_key_works_until_revoked_and_records_its_last_use(engine: sa.Engine) -> None:
    info, key = create_api_key(engine, name="billing service", role="user")
    assert (info.name, info.role, info.last_used_at, info.revoked_at) == (
        "billing service",
        "user",
        None,
        None,
    )
    assert _scalar(engine, sa.select(api_keys.c.key_hash)) == hash_api_key(key)

    verifier = ApiKeyVerifier(engine, touch_seconds=3600)
    assert verifier.verify(key) == Principal("key", info.key_id, "user")
    first_use = list_api_keys(engine)[0].last_used_at
    assert first_use is not None
    assert verifier.verify(key) is not None
    assert list_api_keys(engine)[0].last_used_at == first_use  # written once an hour at most

    assert verifier.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert verifier.verify("hck_" + info.key_id) is None

    assert revoke_api_key(engine, key_id=info.key_id)
    assert verifier.verify(key) is None  # at once: no cache between the check and the store
    assert not revoke_api_key(engine, key_id=info.key_id)
    assert list_api_keys(engine)[0].revoked_at is not None


@pytest.mark.integration
def test_an_api_key_needs_a_name_and_a_known_role(engine: sa.Engine) -> None:
    with pytest.raises(AuthStoreError, match="name must be"):
        create_api_key(engine, name=" ")
    with pytest.raises(AuthStoreError, match="role must be"):
        create_api_key(engine, name="svc", role="owner")


def test_a_key_check_without_a_database_is_unavailable_not_refused(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}")
    with pytest.raises(AuthStoreUnavailableError):
        ApiKeyVerifier(engine).verify(new_api_key()[1])


def _scalar(engine: sa.Engine, query: sa.Select[tuple[str]]) -> str:
    with engine.connect() as connection:
        return str(connection.execute(query).scalar_one())
