"""Roles and the principal a request acts as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["ROLES", "Principal", "PrincipalKind", "Role"]

Role = Literal["user", "admin"]
"""``user`` may forecast; ``admin`` may also reload, retrain and read the prediction log."""
ROLES: tuple[Role, ...] = get_args(Role)

PrincipalKind = Literal["user", "key", "local"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Args:
        kind (PrincipalKind): ``user`` (a token from a password), ``key`` (an API key) or
            ``local`` (authentication switched off).
        name (str): The username, the key id, or ``anonymous``.
        role (Role): What the caller may do.
    """

    kind: PrincipalKind
    name: str
    role: Role

    @property
    def caller(self) -> str:
        """How the prediction log names the caller: ``user:alice``, ``key:3f9c0a1b2d4e``."""
        return f"{self.kind}:{self.name}"

    @property
    def is_admin(self) -> bool:
        """Whether the caller may use the admin endpoints."""
        return self.role == "admin"
