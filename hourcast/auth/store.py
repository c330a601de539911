"""Users and API keys in the store database (tables ``users`` and ``api_keys``).

Keyword-only functions taking an engine, like the rest of ``hourcast.storage``; the API
checks a key on every request with :class:`ApiKeyVerifier`, which sees a revocation at once.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Engine, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hourcast.auth.api_keys import hash_api_key, key_id_of, new_api_key
from hourcast.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    verify_password,
    verify_unknown,
)
from hourcast.auth.principals import ROLES, Principal, Role
from hourcast.storage.schema import api_keys, users

__all__ = [
    "ApiKeyInfo",
    "ApiKeyVerifier",
    "AuthStoreError",
    "AuthStoreUnavailableError",
    "UserInfo",
    "add_user",
    "authenticate",
    "create_api_key",
    "disable_user",
    "list_api_keys",
    "list_users",
    "revoke_api_key",
]

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
_NAME_LIMIT = 100


class AuthStoreError(ValueError):
    """A bad username, password, role or name, or a user that exists already."""


class AuthStoreUnavailableError(RuntimeError):
    """The database could not be asked (an API key cannot be checked)."""


@dataclass(frozen=True)
class UserInfo:
    """A user as listed (never the hash)."""

    username: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class ApiKeyInfo:
    """An API key as listed (never the key or its hash)."""

    key_id: str
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise AuthStoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def add_user(
    engine: Engine, *, username: str, password: str, role: str = "user", replace: bool = False
) -> UserInfo:
    """Create a user with an argon2id hash of ``password``.

    Args:
        engine (Engine): The store.
        username (str): 1-100 letters, digits or ``_.@-``.
        password (str): At least 12 characters.
        role (str): ``user`` or ``admin``. Defaults to ``user``.
        replace (bool): If the user exists, set its password and role and enable it again,
            instead of failing. Defaults to False.

    Raises:
        AuthStoreError: A bad username, a short password, an unknown role, or a username that
            exists already (without ``replace``).
    """
    if not _USERNAME.match(username):
        raise AuthStoreError(
            "username must be 1-100 letters, digits or _.@- and start with a letter or digit"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthStoreError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    values = {"password_hash": hash_password(password), "role": _check_role(role)}
    try:
        with engine.begin() as connection:
            replaced = (
                replace
                and connection.execute(
                    update(users)
                    .where(users.c.username == username)
                    .values(**values, disabled_at=None)
                ).rowcount
            )
            if not replaced:
                connection.execute(users.insert().values(username=username, **values))
    except IntegrityError:
        raise AuthStoreError(f"user {username!r} exists already") from None
    return next(user for user in list_users(engine) if user.username == username)


def list_users(engine: Engine) -> list[UserInfo]:
    """Every user, by name."""
    query = select(users.c.username, users.c.role, users.c.created_at, users.c.disabled_at)
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(users.c.username)).all()
    return [UserInfo(*row) for row in rows]


def _stamp_once(engine: Engine, key: Column[str], value: str, stamp: Column[datetime]) -> bool:
    # Sets a null time column (disabled_at, revoked_at) to now; True if a row changed.
    with engine.begin() as connection:
        result = connection.execute(
            update(key.table).where(key == value, stamp.is_(None)).values({stamp: func.now()})
        )
    return result.rowcount == 1


def disable_user(engine: Engine, *, username: str) -> bool:
    """Refuse the user new tokens from now on; False if there is no such (active) user."""
    return _stamp_once(engine, users.c.username, username, users.c.disabled_at)


def authenticate(engine: Engine, *, username: str, password: str) -> Principal | None:
    """The user if ``password`` is theirs and they are not disabled, else None.

    An unknown user costs the same hash verification as a wrong password.
    """
    query = select(users.c.password_hash, users.c.role, users.c.disabled_at).where(
        users.c.username == username
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        verify_unknown(password)
        return None
    if not verify_password(password, row.password_hash) or row.disabled_at is not None:
        return None
    return Principal("user", username, row.role)


def create_api_key(engine: Engine, *, name: str, role: str = "user") -> tuple[ApiKeyInfo, str]:
    """Make a key for the service ``name``: its description and the key, shown only now.

    Raises:
        AuthStoreError: An empty or too long name, or an unknown role.
    """
    if not name.strip() or len(name) > _NAME_LIMIT:
        raise AuthStoreError(f"name must be 1-{_NAME_LIMIT} characters")
    checked = _check_role(role)
    key_id, key = new_api_key()
    with engine.begin() as connection:
        connection.execute(
            api_keys.insert().values(
                key_id=key_id, name=name.strip(), role=checked, key_hash=hash_api_key(key)
            )
        )
    info = next(info for info in list_api_keys(engine) if info.key_id == key_id)
    return info, key


def list_api_keys(engine: Engine) -> list[ApiKeyInfo]:
    """Every key ever made, newest first, revoked ones included."""
    query = select(
        api_keys.c.key_id,
        api_keys.c.name,
        api_keys.c.role,
        api_keys.c.created_at,
        api_keys.c.last_used_at,
        api_keys.c.revoked_at,
    ).order_by(api_keys.c.created_at.desc(), api_keys.c.key_id)
    with engine.connect() as connection:
        return [ApiKeyInfo(*row) for row in connection.execute(query).all()]


def revoke_api_key(engine: Engine, *, key_id: str) -> bool:
    """Revoke a key; the API refuses it from its next request. False if unknown or revoked."""
    return _stamp_once(engine, api_keys.c.key_id, key_id, api_keys.c.revoked_at)


class ApiKeyVerifier:
    """Checks API keys against the database on every call, so a revocation counts at once.

    ``last_used_at`` is written at most once per ``touch_seconds`` per key and process: a
    write per request would cost more than the check.

    Args:
        engine (Engine): The store.
        touch_seconds (float): Resolution of ``last_used_at``. Defaults to 60.
    """

    def __init__(self, engine: Engine, *, touch_seconds: float = 60.0) -> None:
        self._engine = engine
        self._touch_seconds = touch_seconds
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, key: str) -> Principal | None:
        """The key's principal, or None if it is malformed, unknown or revoked.

        Raises:
            AuthStoreUnavailableError: The database did not answer.
        """
        key_id = key_id_of(key)
        if key_id is None:
            return None
        query = select(api_keys.c.role, api_keys.c.revoked_at).where(
            api_keys.c.key_id == key_id, api_keys.c.key_hash == hash_api_key(key)
        )
        try:
            with self._engine.connect() as connection:
                row = connection.execute(query).first()
                if row is None or row.revoked_at is not None:
                    return None
                if self._due(key_id):
                    connection.execute(
                        update(api_keys)
                        .where(api_keys.c.key_id == key_id)
                        .values(last_used_at=func.now())
                    )
                    connection.commit()
        except SQLAlchemyError as exc:
            raise AuthStoreUnavailableError("the key store is unavailable") from exc
        return Principal("key", key_id, row.role)

    def _due(self, key_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._touched.get(key_id)
            if last is not None and now - last < self._touch_seconds:
                return False
            self._touched[key_id] = now
            return True
