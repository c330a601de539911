"""Password hashes: argon2id through pwdlib, with its recommended parameters."""

from __future__ import annotations

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = ["MIN_PASSWORD_LENGTH", "hash_password", "verify_password", "verify_unknown"]

MIN_PASSWORD_LENGTH = 12

_HASHER = PasswordHash((Argon2Hasher(),))
# Compared against when the username is unknown, so that an unknown name takes as long to
# refuse as a wrong password and the answer time does not tell which names exist.
_UNKNOWN_USER_HASH = _HASHER.hash("no user has this password")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the parameters are stored in the hash)."""
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    return _HASHER.verify(password, password_hash)


def verify_unknown(password: str) -> None:
    """Spend the time of a verification, for a user that does not exist."""
    _HASHER.verify(password, _UNKNOWN_USER_HASH)
