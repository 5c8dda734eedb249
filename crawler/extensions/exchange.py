"""What Scrapy downloaded, as the plain data the archive writes.

The request and response objects of a download, plus what the project's
download handler noted in the request's meta (raw response head, reason phrase,
start time), become one :class:`~crawler.warc.exchange.Exchange`.

One thing is not archived as sent: the credentials of the ``Authorization`` and
``Proxy-Authorization`` request headers (those of an input URL's
``user:password@``, of an ``http_proxy`` URL, or any the user's settings add).
Their value keeps its scheme and loses the rest: ``Basic dXNlcjpwYXNz`` is
archived as ``Basic [redacted]`` (:data:`REDACTED`), so the archive shows that
the request was authorized, and how, but never with what. Nothing else of the
request changes (cookies are archived as sent).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urldefrag

from crawler.meta import HEAD_META, REASON_META, STARTED_META
from crawler.warc.exchange import Exchange, standard_reason

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Headers, Response


#: What the credentials of an ``Authorization`` header are archived as, after its scheme.
REDACTED = b"[redacted]"
#: The request headers whose credentials are redacted, lower-cased.
REDACTED_HEADERS = frozenset({b"authorization", b"proxy-authorization"})


def redacted(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with the credentials of REDACTED_HEADERS replaced by :data:`REDACTED`."""
    return [
        (name, _redact(value) if name.lower() in REDACTED_HEADERS else value)
        for name, value in headers
    ]


def _redact(value: bytes) -> bytes:
    scheme, space, _ = value.strip().partition(b" ")
    return scheme + b" " + REDACTED if space else REDACTED


def header_pairs(headers: Headers) -> list[tuple[bytes, bytes]]:
    """Every (name, value) of Scrapy headers, repeated headers included."""
    return [(bytes(name), bytes(value)) for name, values in headers.items() for value in values]


def started_at(request: Request) -> datetime:
    """When the request went out: noted by the download handler, else estimated."""
    started = request.meta.get(STARTED_META)
    if started is not None:
        return started  # type: ignore[no-any-return]
    latency = request.meta.get("download_latency") or 0.0
    return datetime.now(UTC) - timedelta(seconds=latency)


def _truncation(response: Response) -> str | None:
    """The ``WARC-Truncated`` reason of a body that did not come whole, if any.

    ``disconnect``: the connection closed early (Scrapy's ``dataloss`` flag, with
    ``DOWNLOAD_FAIL_ON_DATALOSS`` off); ``length``: the download was stopped on
    purpose at a size limit (``download_stopped``, e.g. a robots.txt over
    ARCHIVER_ROBOTSTXT_MAX_SIZE).
    """
    if "dataloss" in response.flags:
        return "disconnect"
    if "download_stopped" in response.flags:
        return "length"
    return None


def exchange_of(response: Response, request: Request) -> Exchange:
    """The exchange that produced ``response``, as it went over the wire."""
    reason = request.meta.get(REASON_META)
    return Exchange(
        url=urldefrag(request.url)[0],
        method=request.method,
        request_headers=redacted(header_pairs(request.headers)),
        request_body=request.body,
        protocol=response.protocol or "HTTP/1.1",
        status=response.status,
        reason=standard_reason(response.status) if reason is None else reason,
        response_headers=header_pairs(response.headers),
        body=response.body,
        started=started_at(request),
        ip_address=str(response.ip_address) if response.ip_address else None,
        truncated=_truncation(response),
        raw_head=request.meta.get(HEAD_META),
    )
