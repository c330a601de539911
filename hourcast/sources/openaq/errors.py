"""Errors the OpenAQ client raises."""

from __future__ import annotations

__all__ = [
    "OpenAQClientError",
    "OpenAQError",
    "OpenAQHTTPError",
    "OpenAQNotFoundError",
    "OpenAQRateLimitError",
    "OpenAQResponseError",
    "OpenAQServerError",
    "OpenAQTransportError",
]


class OpenAQError(Exception):
    """Base class of every error the OpenAQ client raises."""


class OpenAQHTTPError(OpenAQError):
    """The API answered with an error status.

    Attributes:
        status: HTTP status code.
        path: URL path of the request (no query string, no key).
        message: The API's own message (``detail``), or the start of the body.
    """

    def __init__(self, status: int, path: str, message: str) -> None:
        super().__init__(status, path, message)
        self.status = status
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"OpenAQ API answered {self.status} for {self.path}: {self.message}"


class OpenAQClientError(OpenAQHTTPError):
    """A 4xx other than 429: the request is wrong and retrying will not help."""


class OpenAQNotFoundError(OpenAQClientError):
    """404: no such location or sensor."""


class OpenAQRateLimitError(OpenAQHTTPError):
    """Still rate limited (429) after every retry, or asked to wait longer than allowed."""


class OpenAQServerError(OpenAQHTTPError):
    """Still a 5xx after every retry."""


class OpenAQTransportError(OpenAQError):
    """Timeouts or connection errors on every attempt; the last one is the ``__cause__``."""


class OpenAQResponseError(OpenAQError):
    """A success status with a body that is not the expected JSON."""
