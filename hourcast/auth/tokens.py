"""Expiring JSON Web Tokens (HS256, PyJWT) for users, and the key that signs them.

A token carries the username (``sub``), the role, when it was issued and when it expires.
It is checked by signature and expiry alone, without the database: a disabled user keeps a
token already issued until it expires (``HOURCAST_API_TOKEN_MINUTES``, 30 by default), but
gets no new one. Services that need instant revocation use API keys.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import jwt

from hourcast.auth.principals import ROLES, Principal
from hourcast.settings import Settings

__all__ = [
    "ALGORITHM",
    "MIN_KEY_LENGTH",
    "InvalidTokenError",
    "IssuedToken",
    "SigningKeyError",
    "issue_token",
    "read_token",
    "signing_key",
]

ALGORITHM = "HS256"
ISSUER = "hourcast"
MIN_KEY_LENGTH = 32  # characters; HS256 wants a key at least as long as its 256-bit hash
LOCAL_KEY_FILE = "jwt-signing-key"


class InvalidTokenError(Exception):
    """The token is expired, tampered with, signed with another key, or not a token."""


class SigningKeyError(RuntimeError):
    """The configured signing key is unusable; the message names the variable."""


@dataclass(frozen=True)
class IssuedToken:
    """A signed token and when it stops being accepted."""

    token: str
    expires_at: datetime


def issue_token(
    *, username: str, role: str, key: str, minutes: int, now: datetime | None = None
) -> IssuedToken:
    """Sign a token for ``username`` that expires after ``minutes``."""
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires = issued + timedelta(minutes=minutes)
    claims = {"sub": username, "role": role, "iss": ISSUER, "iat": issued, "exp": expires}
    return IssuedToken(jwt.encode(claims, key, algorithm=ALGORITHM), expires)


def read_token(token: str, *, key: str) -> Principal:
    """The user a token speaks for.

    Raises:
        InvalidTokenError: Expired, badly signed, malformed, or missing a claim.
    """
    principal, expires = _verified(token, key)
    if expires <= time.time():  # checked on every call: the signature check may be cached
        raise InvalidTokenError("the token has expired")
    return principal


# A client sends the same token with each request until it expires: its signature is
# checked once, not on each of them (the HMAC and the JSON took 3 % of a worker's time
# at 32 clients). Only tokens that pass are kept; a bad one raises every time.
@lru_cache(maxsize=4096)
def _verified(token: str, key: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],  # never the token's own choice (no "none", no RS/HS mix)
            issuer=ISSUER,
            options={"require": ["sub", "role", "iat", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidTokenError("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidTokenError("the token is not valid") from exc
    role, subject = claims["role"], claims["sub"]
    if role not in ROLES or not isinstance(subject, str):
        raise InvalidTokenError("the token is not valid")
    return Principal("user", subject, role), float(claims["exp"])


def signing_key(settings: Settings) -> str:
    """The key that signs and checks tokens.

    ``HOURCAST_JWT_SECRET_KEY`` (required in production, from Secrets Manager); without it, a
    random key kept in ``HOURCAST_HOME/jwt-signing-key`` (mode 0600), made on first use, so
    that every worker process of a local API and the CLI agree on it.

    Raises:
        SigningKeyError: The configured key is shorter than :data:`MIN_KEY_LENGTH`.
    """
    if settings.jwt_secret_key is not None:
        key = settings.jwt_secret_key.get_secret_value()
        if len(key) < MIN_KEY_LENGTH:
            raise SigningKeyError(
                f"HOURCAST_JWT_SECRET_KEY must be at least {MIN_KEY_LENGTH} characters"
            )
        return key
    return _local_key(settings.home / LOCAL_KEY_FILE)


def _local_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        # link() fails if another process made the key first: both then read the same one.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()
