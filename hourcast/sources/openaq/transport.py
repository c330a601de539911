"""HTTP under the OpenAQ v3 client: pagination, rate-limit waits, bounded retries.

``httpx`` with the behaviour a long backfill needs against the real API: lazy
``limit``/``page`` pagination that stops on a short page (``meta.found`` is not trusted, it
can be the string ``">1000"``), sleeping until the rate-limit window resets when the
``x-ratelimit-remaining`` header runs low, waiting out a ``429`` (``Retry-After`` where a proxy
sends one, else ``x-ratelimit-reset``, all the real API sends), and bounded
retries with exponential backoff and full jitter on 5xx, timeouts and connection errors.
Other 4xx answers raise :class:`~hourcast.sources.openaq.errors.OpenAQClientError` at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import httpx
import tenacity

from hourcast.sources.openaq.errors import (
    OpenAQClientError,
    OpenAQHTTPError,
    OpenAQNotFoundError,
    OpenAQRateLimitError,
    OpenAQResponseError,
    OpenAQServerError,
    OpenAQTransportError,
)
from hourcast.sources.openaq.records import optional_float, optional_int

__all__ = ["DEFAULT_BASE_URL", "MAX_PAGE_LIMIT", "OpenAQTransport", "Page", "RateLimit", "page_of"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openaq.org"
MAX_PAGE_LIMIT = 1000
_RETRYABLE_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.ProtocolError)


class _RetryableStatusError(Exception):
    """A 429 or 5xx answer, raised inside the retry loop."""

    def __init__(self, status: int, path: str, message: str, retry_after: float | None) -> None:
        super().__init__(status, path, message)
        self.status = status
        self.path = path
        self.message = message
        self.retry_after = retry_after

    def final_error(self) -> OpenAQHTTPError:
        too_many = self.status == httpx.codes.TOO_MANY_REQUESTS
        cls = OpenAQRateLimitError if too_many else OpenAQServerError
        return cls(self.status, self.path, self.message)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The ``x-ratelimit-*`` headers of one response.

    Attributes:
        limit: Requests allowed in the window.
        remaining: Requests left in the window.
        used: Requests used in the window.
        reset_s: Seconds from the response until the window resets.
        observed_at: Client clock reading when the response arrived.
    """

    limit: int | None
    remaining: int | None
    used: int | None
    reset_s: float | None
    observed_at: float

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], observed_at: float) -> RateLimit | None:
        """Read the rate-limit headers, or None when the response has none.

        Args:
            headers: Response headers (case-insensitive mapping).
            observed_at: Client clock reading when the response arrived.

        Returns:
            The parsed headers, or None.
        """
        limit = optional_int(headers.get("x-ratelimit-limit"))
        remaining = optional_int(headers.get("x-ratelimit-remaining"))
        used = optional_int(headers.get("x-ratelimit-used"))
        reset_s = optional_float(headers.get("x-ratelimit-reset"))
        if limit is None and remaining is None and used is None and reset_s is None:
            return None
        return cls(limit, remaining, used, reset_s, observed_at)


@dataclass(frozen=True, slots=True)
class Page:
    """One raw page of a paginated endpoint.

    Attributes:
        path: URL path requested.
        page: Page number (1-based).
        limit: Page size requested.
        results: The page's ``results``, as sent.
        meta: The page's ``meta`` (``found`` may be a string such as ``">1000"``).
        rate_limit: Rate-limit headers of the response.
    """

    path: str
    page: int
    limit: int
    results: list[dict[str, Any]]
    meta: dict[str, Any]
    rate_limit: RateLimit | None = None


class OpenAQTransport:
    """HTTP for the OpenAQ v3 client: pagination, rate-limit waits, bounded retries.

    The base of :class:`~hourcast.sources.openaq.client.OpenAQClient`, which adds the
    endpoints. Use as a context manager, or call :meth:`close`.

    Attributes:
        request_count: HTTP requests sent, retries included.
        rate_limit: Rate-limit headers of the last response, if any.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        page_limit: int = 1000,
        transport: httpx.BaseTransport | None = None,
        ratelimit_min_remaining: int = 1,
        max_wait_s: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        """Create a client.

        Args:
            base_url: API root, without ``/v3``.
            api_key: Sent as ``X-API-Key`` when given.
            timeout: Per-request timeout in seconds (connect, read, write, pool).
            max_retries: Retries after the first attempt on 429, 5xx, timeouts and
                connection errors; so at most ``max_retries + 1`` attempts per request.
            backoff_base: First backoff ceiling in seconds; doubles on each retry.
            backoff_max: Largest backoff ceiling in seconds.
            page_limit: Default page size, 1 to 1000.
            transport: Custom httpx transport (e.g. for proxies or tests).
            ratelimit_min_remaining: Sleep until the window resets once
                ``x-ratelimit-remaining`` is at or below this.
            max_wait_s: Longest single wait (``Retry-After`` or rate-limit reset) the client
                accepts; a longer one raises :class:`OpenAQRateLimitError`.
            sleep: Sleep function (inject a fake in unit tests).
            clock: Monotonic clock in seconds (inject a fake in unit tests).
            rng: Random source for the jitter.

        Raises:
            ValueError: An argument is out of range.
        """
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"page_limit must be within 1..{MAX_PAGE_LIMIT}, got {page_limit}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if backoff_base < 0 or backoff_max < 0:
            raise ValueError("backoff_base and backoff_max must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.page_limit = page_limit
        self.ratelimit_min_remaining = ratelimit_min_remaining
        self.max_wait_s = max_wait_s
        self.request_count = 0
        self.rate_limit: RateLimit | None = None
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        headers = {"Accept": "application/json", "User-Agent": "hourcast-openaq/0.1"}
        if api_key:
            headers["X-API-Key"] = api_key
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        start_page: int = 1,
    ) -> Iterator[Page]:
        """Request ``page = start_page, start_page + 1, ...`` until a page is short.

        ``meta.found`` is ignored: it can be a string such as ``">1000"``.

        Args:
            path: URL path, e.g. ``/v3/sensors/1502/hours``.
            params: Extra query parameters (None values are dropped).
            limit: Page size, 1 to 1000; defaults to the client's ``page_limit``.
            start_page: First page to request.

        Yields:
            Raw pages, each requested only when the previous one has been consumed.

        Raises:
            ValueError: ``limit`` out of range.
            OpenAQError: See :meth:`get_json`.
        """
        size = self.page_limit if limit is None else limit
        if not 1 <= size <= MAX_PAGE_LIMIT:
            raise ValueError(f"limit must be within 1..{MAX_PAGE_LIMIT}, got {size}")
        page = start_page
        while True:
            query = {**(params or {}), "limit": size, "page": page}
            result = page_of(path, page, size, self.get_json(path, query), self.rate_limit)
            yield result
            if len(result.results) < size:
                return
            page += 1

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET one URL with rate-limit waits and bounded retries; return the JSON object.

        Args:
            path: URL path under ``base_url``.
            params: Query parameters (None values are dropped).

        Returns:
            The decoded JSON object.

        Raises:
            OpenAQClientError: A 4xx other than 429 (not retried).
            OpenAQRateLimitError: Still 429 after ``max_retries`` retries, or a wait longer
                than ``max_wait_s`` was asked for.
            OpenAQServerError: Still 5xx after ``max_retries`` retries.
            OpenAQTransportError: Timeouts or connection errors on every attempt.
            OpenAQResponseError: The body is not a JSON object.
        """
        query = {key: value for key, value in (params or {}).items() if value is not None}
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._retry_wait,
            retry=tenacity.retry_if_exception_type(
                (_RetryableStatusError, *_RETRYABLE_TRANSPORT_ERRORS)
            ),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._get_once, path, query)
        except _RetryableStatusError as exc:
            raise exc.final_error() from None
        except httpx.TransportError as exc:
            # Retryable ones (timeouts, connection errors) land here once retries run out.
            attempts = retrying.statistics.get("attempt_number", 1)
            raise OpenAQTransportError(
                f"{type(exc).__name__} on {path} after {attempts} attempt(s): {exc}"
            ) from exc

    def _get_once(self, path: str, query: Mapping[str, Any]) -> dict[str, Any]:
        self._wait_for_rate_limit(path)
        self.request_count += 1
        response = self._http.get(path, params=query)
        self.rate_limit = RateLimit.from_headers(response.headers, self._clock()) or self.rate_limit
        status = response.status_code
        if response.is_success:
            try:
                body = response.json()
            except ValueError as exc:
                raise OpenAQResponseError(f"{path}: body is not JSON ({exc})") from exc
            if not isinstance(body, dict):
                raise OpenAQResponseError(f"{path}: body is {type(body).__name__}, not an object")
            return body
        message = _error_message(response)
        url_path = response.request.url.path
        if status == httpx.codes.TOO_MANY_REQUESTS or response.is_server_error:
            retry_after = _parse_retry_after(response.headers.get("retry-after"))
            if retry_after is None and status == httpx.codes.TOO_MANY_REQUESTS:
                # OpenAQ's own 429 has no Retry-After, only x-ratelimit-reset (seconds).
                retry_after = optional_float(response.headers.get("x-ratelimit-reset"))
            if retry_after is not None and retry_after > self.max_wait_s:
                raise OpenAQRateLimitError(
                    status, url_path, f"{message} (Retry-After {retry_after:g}s > max_wait_s)"
                )
            raise _RetryableStatusError(status, url_path, message, retry_after)
        if status == httpx.codes.NOT_FOUND:
            raise OpenAQNotFoundError(status, url_path, message)
        raise OpenAQClientError(status, url_path, message)

    def _wait_for_rate_limit(self, path: str) -> None:
        state = self.rate_limit
        if state is None or state.remaining is None or state.reset_s is None:
            return
        if state.remaining > self.ratelimit_min_remaining:
            return
        delay = state.observed_at + state.reset_s - self._clock()
        if delay <= 0:
            return
        if delay > self.max_wait_s:
            raise OpenAQRateLimitError(
                httpx.codes.TOO_MANY_REQUESTS,
                path,
                f"rate-limit window resets in {delay:.0f}s > max_wait_s",
            )
        logger.info("OpenAQ rate limit: %s request(s) left, sleeping %.2fs", state.remaining, delay)
        self._sleep(delay)

    def _retry_wait(self, state: tenacity.RetryCallState) -> float:
        # Full jitter: uniform in [0, min(cap, base * 2^(n-1))].
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (state.attempt_number - 1))
        delay = self._rng.uniform(0.0, ceiling)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableStatusError) and exc.retry_after is not None:
            # The server said how long; never retry sooner than that.
            delay = max(delay, exc.retry_after)
        return delay

    @staticmethod
    def _log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "OpenAQ request failed (attempt %d: %s); retrying in %.2fs",
            state.attempt_number,
            f"HTTP {exc.status}" if isinstance(exc, _RetryableStatusError) else repr(exc),
            wait,
        )


def page_of(
    path: str, page: int, limit: int, body: dict[str, Any], rate_limit: RateLimit | None
) -> Page:
    """A :class:`Page` from a response body; raises OpenAQResponseError without ``results``."""
    results = body.get("results")
    if not isinstance(results, list):
        raise OpenAQResponseError(f"{path} page {page}: body has no results list")
    meta = body.get("meta")
    return Page(path, page, limit, results, meta if isinstance(meta, dict) else {}, rate_limit)


def _parse_retry_after(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:200] if text else response.reason_phrase
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            if key in body:
                detail = body[key]
                return detail if isinstance(detail, str) else _compact(detail)
    return _compact(body)


def _compact(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."
