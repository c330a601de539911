"""Who is calling: FastAPI dependencies over :mod:`hourcast.auth`.

A request authenticates with a bearer token from ``POST /v1/auth/token`` (users) or an
``X-API-Key`` header (services). ``main.py`` puts :func:`authenticate` on every ``/v1`` router
and :func:`require_admin` on the admin router; only ``/health``, ``/ready``, ``/metrics``, the
docs and ``/v1/auth/token`` answer without credentials. Both schemes are declared in the
OpenAPI schema, so Swagger's Authorize button and schemathesis can send them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from pydantic import BaseModel
from sqlalchemy import Engine

from hourcast.auth.mode import LOCAL_PRINCIPAL, auth_required
from hourcast.auth.principals import Principal
from hourcast.auth.store import ApiKeyVerifier, AuthStoreUnavailableError
from hourcast.auth.tokens import InvalidTokenError, read_token, signing_key
from hourcast.settings import Settings

__all__ = [
    "ADMIN_RESPONSES",
    "AUTH_RESPONSES",
    "TOKEN_URL",
    "AdminDep",
    "AuthError",
    "Authenticator",
    "PrincipalDep",
    "authenticate",
    "require_admin",
    "unauthorized",
    "unavailable",
]

log = logging.getLogger("inference_api.auth")

TOKEN_URL = "/v1/auth/token"
API_KEY_HEADER = "X-API-Key"

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    scheme_name="OAuth2Password",
    description="A user's token: POST username and password to /v1/auth/token.",
    auto_error=False,
)
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="APIKey",
    description="A service's key, from `hourcast keys create`.",
    auto_error=False,
)


class AuthError(BaseModel):
    """Why the request was refused."""

    detail: str


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": AuthError, "description": "No valid token or API key"},
}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    403: {"model": AuthError, "description": "The caller is not an admin"},
}


@dataclass(frozen=True)
class Authenticator:
    """How this process checks callers (``app.state.auth``).

    Args:
        required (bool): False with ``HOURCAST_API_AUTH=off``: everyone acts as an admin.
        key (str): Signs and checks tokens.
        api_keys (ApiKeyVerifier): Checks API keys against the store.
        token_minutes (int): Lifetime of the tokens issued.
    """

    required: bool
    key: str
    api_keys: ApiKeyVerifier
    token_minutes: int

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> Authenticator:
        """Fail at start-up on a refused mode or a short key; warn when auth is off."""
        required = auth_required(settings)
        if not required:
            log.warning(
                "HOURCAST_API_AUTH=off: EVERY CALLER IS LET IN AS AN ADMIN, without a token "
                "or key. Only for a laptop; refused with HOURCAST_ENV=production."
            )
        return cls(
            required, signing_key(settings), ApiKeyVerifier(engine), settings.api_token_minutes
        )

    async def principal(self, token: str | None, api_key: str | None) -> Principal:
        """The caller, or an HTTP 401/503 saying why not."""
        if not self.required:
            return LOCAL_PRINCIPAL
        if token:
            try:
                return read_token(token, key=self.key)
            except InvalidTokenError as exc:
                raise unauthorized(str(exc)) from None
        if api_key:
            try:
                found = await run_in_threadpool(self.api_keys.verify, api_key)
            except AuthStoreUnavailableError:
                message = "API keys cannot be checked right now; retry, or use a token"
                raise unavailable(message) from None
            if found is None:
                raise unauthorized("the API key is not valid or has been revoked")
            return found
        raise unauthorized(
            f"not authenticated: send a bearer token (POST {TOKEN_URL}) "
            f"or an {API_KEY_HEADER} header"
        )


def unauthorized(message: str) -> HTTPException:
    """A 401 that asks for a bearer token (RFC 6750)."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


def unavailable(message: str) -> HTTPException:
    """A 503 for a database that does not answer: retry in a few seconds."""
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, message, headers={"Retry-After": "5"})


async def authenticate(
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """The caller of this request (also kept as ``request.state.principal``)."""
    authenticator: Authenticator = request.app.state.auth
    principal = await authenticator.principal(token, api_key)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


async def require_admin(principal: PrincipalDep) -> Principal:
    """The caller, if an admin; else 403."""
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this endpoint is for admins")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
