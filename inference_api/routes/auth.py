"""Tokens for users: the OAuth2 password flow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from hourcast.auth.store import authenticate
from hourcast.auth.tokens import issue_token
from inference_api.auth import (
    AUTH_RESPONSES,
    Authenticator,
    AuthError,
    unauthorized,
    unavailable,
)
from inference_api.deps import EngineDep

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenResponse(BaseModel):
    """A bearer token: send it as ``Authorization: Bearer <access_token>``."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        **AUTH_RESPONSES,
        503: {"model": AuthError, "description": "The user store cannot be reached"},
    },
)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
) -> TokenResponse:
    """Exchange a username and password (form fields) for a token that expires."""
    try:
        user = authenticate(engine, username=form.username, password=form.password)
    except SQLAlchemyError:
        raise unavailable("users cannot be checked right now; retry shortly") from None
    if user is None:
        raise unauthorized("incorrect username or password")
    authenticator: Authenticator = request.app.state.auth
    issued = issue_token(
        username=user.name,
        role=user.role,
        key=authenticator.key,
        minutes=authenticator.token_minutes,
    )
    seconds = int((issued.expires_at - datetime.now(UTC)).total_seconds())
    return TokenResponse(access_token=issued.token, expires_in=max(seconds, 0))
