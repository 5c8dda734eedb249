"""What Scrapy downloaded, as the plain data the archive writes.

The request and response objects of a download, plus what the project's
download handler noted in the request's meta (raw response head, reason phrase,
start time), become one :class:`~crawler.warc.exchange.Exchange`.
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


def exchange_of(response: Response, request: Request) -> Exchange:
    """The exchange that produced ``response``, as it went over the wire."""
    reason = request.meta.get(REASON_META)
    return Exchange(
        url=urldefrag(request.url)[0],
        method=request.method,
        request_headers=header_pairs(request.headers),
        request_body=request.body,
        protocol=response.protocol or "HTTP/1.1",
        status=response.status,
        reason=standard_reason(response.status) if reason is None else reason,
        response_headers=header_pairs(response.headers),
        body=response.body,
        started=started_at(request),
        ip_address=str(response.ip_address) if response.ip_address else None,
        truncated="disconnect" if "dataloss" in response.flags else None,
        raw_head=request.meta.get(HEAD_META),
    )
