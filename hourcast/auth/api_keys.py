"""API keys for services: ``hck_<key id>_<secret>``, stored only as a SHA-256 hash.

Why SHA-256 and not argon2 as for passwords: a key is 256 random bits made here, not a
human choice, so a stolen hash cannot be reversed by guessing, however fast the hash; a slow
hash would add its cost (tens of milliseconds) to every request that sends a key; and an
unsalted hash can be looked up by an index, where a salted one would have to be tried against
every stored key.
"""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["KEY_PREFIX", "hash_api_key", "key_id_of", "new_api_key"]

KEY_PREFIX = "hck"
_KEY = re.compile(rf"^{KEY_PREFIX}_(?P<key_id>[0-9a-f]{{12}})_[A-Za-z0-9_-]{{43}}$")


def new_api_key() -> tuple[str, str]:
    """A new key and its public id: ``(key_id, key)``. Only the caller ever sees the key."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(key: str) -> str | None:
    """The public id inside a well-formed key, or None for anything else."""
    match = _KEY.match(key)
    return match.group("key_id") if match else None


def hash_api_key(key: str) -> str:
    """The stored form of a key: SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()
