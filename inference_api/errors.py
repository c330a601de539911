"""Errors as JSON 4xx naming the field, bodies parsed with orjson and limited in size.

- A body that is not JSON is a 400 (``BadRequest``: ``loc`` ``["body"]``); FastAPI's own
  answer is a 422 for bad JSON and an undocumented 400 for other parse failures.
- A body over ``api_max_body_bytes`` is a 413, before it is read whole.
- :class:`OrjsonRoute` parses JSON bodies with orjson, which is faster than the standard
  library and refuses ``NaN`` and ``Infinity``, which are not JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import ORJSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inference_api.one_pass import one_pass_decoder
from inference_api.schemas import BadRequest, ErrorMessage

__all__ = [
    "BODY_ERRORS",
    "BodySizeLimit",
    "OrjsonRoute",
    "install_error_handlers",
    "invalid",
    "reject_unknown_query",
]

BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": BadRequest, "description": "The body is not JSON"},
    413: {"model": ErrorMessage, "description": "The body is larger than the API reads"},
}


def invalid(loc: tuple[str | int, ...], message: str) -> RequestValidationError:
    """A 422 naming the field at ``loc`` (e.g. ``("body", "horizon")``)."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


_QUERY_NAMES = "_hourcast_query_names"  # cached on each route


def _query_names(route: APIRoute) -> frozenset[str]:
    names: frozenset[str] | None = getattr(route, _QUERY_NAMES, None)
    if names is None:
        flat = get_flat_dependant(route.dependant)
        names = frozenset(param.alias for param in flat.query_params)
        setattr(route, _QUERY_NAMES, names)
    return names


async def reject_unknown_query(request: Request) -> None:
    """An app-wide dependency: a query parameter the route does not declare is a 422 naming it.

    FastAPI ignores unknown query parameters; refusing them makes a misspelt filter an error
    instead of a silently unfiltered answer.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route)
    for name in request.query_params:
        if name not in known:
            raise invalid(("query", name), "unknown query parameter")


class _OrjsonRequest(Request):
    one_pass: Callable[[bytes], BaseModel | None] | None = None

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            decoded = self.one_pass(body) if self.one_pass is not None else None
            # A model instance passes FastAPI's validation as it is (pydantic does not
            # validate an instance of the model again).
            self._json = decoded if decoded is not None else orjson.loads(body)
        return self._json


class OrjsonRoute(APIRoute):
    """A route whose JSON body is parsed with orjson (its errors are ``JSONDecodeError`` too).

    A body model with a one-pass decoder (:mod:`inference_api.one_pass`) is first read by it;
    what it refuses is parsed and validated as usual.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The default handler, given a request that parses JSON with orjson."""
        handler = super().get_route_handler()
        one_pass = one_pass_decoder(getattr(self.body_field, "type_", None))

        async def handle(request: Request) -> Response:
            wrapped = _OrjsonRequest(request.scope, request.receive)
            wrapped.one_pass = one_pass
            return await handler(wrapped)

        return handle


class BodySizeLimit:
    """ASGI middleware: a body over ``max_bytes`` gets a 413 (by its length, or while read)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> HTTPException:
        return HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            f"the body is larger than {self.max_bytes} bytes",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 to a declared length over the limit; count the bytes of the others."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            body = orjson.dumps({"detail": self._too_large().detail})
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()
            return message

        await self.app(scope, counted, send)


def install_error_handlers(app: FastAPI) -> None:
    """400 for a body that is not JSON; every other validation error stays FastAPI's 422."""
    from fastapi.exception_handlers import request_validation_exception_handler

    async def _validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        if any(error.get("type") == "json_invalid" for error in errors):
            reason = next(
                (str(e.get("ctx", {}).get("error", "")) for e in errors if e.get("ctx")), ""
            )
            message = f"the body is not valid JSON ({reason})" if reason else "not valid JSON"
            detail = [{"loc": ["body"], "msg": message, "type": "json_invalid"}]
            return ORJSONResponse(
                status_code=status.HTTP_400_BAD_REQUEST, content={"detail": detail}
            )
        return await request_validation_exception_handler(request, exc)

    app.add_exception_handler(RequestValidationError, _validation)
