"""Whether the API checks its callers: ``HOURCAST_API_AUTH`` (on unless switched off locally)."""

from __future__ import annotations

from hourcast.auth.principals import Principal
from hourcast.settings import Settings

__all__ = ["LOCAL_PRINCIPAL", "AuthModeError", "auth_required"]

LOCAL_PRINCIPAL = Principal("local", "anonymous", "admin")
"""Who every request acts as with authentication off."""


class AuthModeError(RuntimeError):
    """Authentication switched off where that is not allowed."""


def auth_required(settings: Settings) -> bool:
    """Whether callers must authenticate.

    Raises:
        AuthModeError: ``HOURCAST_API_AUTH=off`` with ``HOURCAST_ENV=production``.
    """
    if settings.api_auth == "on":
        return True
    if settings.env == "production":
        raise AuthModeError("HOURCAST_API_AUTH=off is refused with HOURCAST_ENV=production")
    return False
