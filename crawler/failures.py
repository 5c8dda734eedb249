"""Readable reasons for fetches that went wrong, for the log, the index and the WARC."""

from __future__ import annotations

from OpenSSL.SSL import Error as SSLError
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import ConnectError, ConnectingCancelledError, DNSLookupError

from crawler.meta import REASON_META
from crawler.outcomes import InputOutcome
from crawler.replay import NotInArchiveError, ReplayedFailureError
from crawler.warc.exchange import standard_reason

ROBOTS_MESSAGE = "Forbidden by robots.txt"
#: Why requests are dropped once the archive could not write a record.
ARCHIVE_STOPPED = "the archive stopped taking records"


class WireError(Exception):
    """What the server sent could not be read; the message is the whole reason.

    Raised inside Twisted's HTTP client (e.g. a response head line over the limit),
    it reaches Scrapy wrapped in a ``ResponseFailed``; :func:`describe` gives the
    message alone.
    """


_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (CannotResolveHostError, "DNS lookup failed"),
    (DownloadConnectionRefusedError, "connection refused"),
    (DownloadTimeoutError, "timed out"),
    (ResponseDataLossError, "connection closed before the whole body arrived"),
    (DownloadCancelledError, "download cancelled"),
    (DownloadFailedError, "connection failed"),
)


def _wrapped(error: BaseException) -> list[BaseException]:
    """The failures a Twisted ``ResponseFailed`` behind ``error`` wraps (none for others)."""
    reasons = getattr(error.__cause__, "reasons", None) or []
    return [getattr(reason, "value", reason) for reason in reasons]


def _detail(error: BaseException) -> str:
    """The error's message, or for Twisted's ResponseFailed, the failures it wraps."""
    values = _wrapped(error)
    if values:
        return "; ".join(
            f"{type(v).__name__}: {' '.join(str(v).split())}".rstrip(": ") for v in values
        )
    return " ".join(str(error).split())


#: Errors raised before a request could go out: no name, no connection.
_NOT_SENT: tuple[type[BaseException], ...] = (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    ConnectError,
    ConnectingCancelledError,
    DNSLookupError,
)


def reached_server(error: BaseException) -> bool:
    """Whether a failed download's request went out to a server.

    Not when the host did not resolve, the connection was never made (refused,
    unreachable, a connect timeout) or its TLS handshake failed; otherwise the
    request was sent and the failure came after (a reset, a cut body, a timeout
    waiting for the answer). A download that timed out while its connection was
    still being made, with no connect error to say so, counts as sent.
    """
    if isinstance(error, IgnoreRequest):
        return False
    if any(isinstance(value, (SSLError, *_NOT_SENT)) for value in _wrapped(error)):
        return False
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _NOT_SENT):
            return False
        seen = seen.__cause__
    return True


def outcome_of(error: BaseException) -> InputOutcome:
    """A failure's seed outcome: ``forbidden``, ``not_in_archive`` (replay) or ``failed``."""
    if isinstance(error, IgnoreRequest) and str(error) == ROBOTS_MESSAGE:
        return InputOutcome.FORBIDDEN
    if isinstance(error, NotInArchiveError):
        return InputOutcome.NOT_IN_ARCHIVE
    return InputOutcome.FAILED


def describe(error: BaseException) -> str:
    """One line that says what went wrong, e.g. ``HTTP 404 Not Found``."""
    if isinstance(error, HttpError):
        response = error.response
        reason = response.meta.get(REASON_META) or standard_reason(response.status)
        return f"HTTP {response.status} {reason.decode('latin-1')}".rstrip()
    if wire := [str(value) for value in _wrapped(error) if isinstance(value, WireError)]:
        return "; ".join(wire)
    if isinstance(error, (NotInArchiveError, ReplayedFailureError)):
        # Replay: the reason as the archive gives it (a failed fetch's own words).
        return str(error)
    detail = _detail(error)
    for kind, text in _KINDS:
        if isinstance(error, kind):
            if detail.casefold().startswith(text.casefold()):
                return detail
            return f"{text}: {detail}" if detail else text
    if isinstance(error, IgnoreRequest):
        return detail or "request ignored"
    name = type(error).__name__
    return f"{name}: {detail}" if detail else name
