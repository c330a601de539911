"""OpenAQ v3 API access.

The client (:mod:`.client` over :mod:`.transport`), its errors, and the parser of hourly
records (:mod:`.records`).
"""

from hourcast.sources.openaq.client import OpenAQClient, TimeArg
from hourcast.sources.openaq.errors import (
    OpenAQClientError,
    OpenAQError,
    OpenAQHTTPError,
    OpenAQNotFoundError,
    OpenAQRateLimitError,
    OpenAQResponseError,
    OpenAQServerError,
    OpenAQTransportError,
)
from hourcast.sources.openaq.records import (
    KNOWN_UNITS,
    HourlyRecord,
    ParsedPage,
    Rejected,
    RejectReason,
    normalize_units,
    parse_hourly_page,
    parse_hourly_record,
)
from hourcast.sources.openaq.transport import DEFAULT_BASE_URL, MAX_PAGE_LIMIT, Page, RateLimit

__all__ = [
    "DEFAULT_BASE_URL",
    "KNOWN_UNITS",
    "MAX_PAGE_LIMIT",
    "HourlyRecord",
    "OpenAQClient",
    "OpenAQClientError",
    "OpenAQError",
    "OpenAQHTTPError",
    "OpenAQNotFoundError",
    "OpenAQRateLimitError",
    "OpenAQResponseError",
    "OpenAQServerError",
    "OpenAQTransportError",
    "Page",
    "ParsedPage",
    "RateLimit",
    "RejectReason",
    "Rejected",
    "TimeArg",
    "normalize_units",
    "parse_hourly_page",
    "parse_hourly_record",
]
