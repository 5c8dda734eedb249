"""Readable reasons for fetches that went wrong, for the log, the index and the WARC."""

from __future__ import annotations

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

from crawler.meta import REASON_META
from crawler.outcomes import InputOutcome
from crawler.replay import NotInArchiveError, ReplayedFailureError
from crawler.warc.exchange import standard_reason

ROBOTS_MESSAGE = "Forbidden by robots.txt"
#: Why requests are dropped once the archive could not write a record.
ARCHIVE_STOPPED = "the archive stopped taking records"

_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (CannotResolveHostError, "DNS lookup failed"),
    (DownloadConnectionRefusedError, "connection refused"),
    (DownloadTimeoutError, "timed out"),
    (ResponseDataLossError, "connection closed before the whole body arrived"),
    (DownloadCancelledError, "download cancelled"),
    (DownloadFailedError, "connection failed"),
)


def _detail(error: BaseException) -> str:
    """The error's message, or for Twisted's ResponseFailed, the failures it wraps."""
    reasons = getattr(error.__cause__, "reasons", None)
    if reasons:
        values = [getattr(reason, "value", reason) for reason in reasons]
        return "; ".join(
            f"{type(v).__name__}: {' '.join(str(v).split())}".rstrip(": ") for v in values
        )
    return " ".join(str(error).split())


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
