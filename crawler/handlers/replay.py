"""A download handler that answers from the archive instead of the network.

Switched on by ``ARCHIVER_REPLAY=DIR`` (see :mod:`crawler.addons`), it serves
each request with the capture of its URL that :mod:`crawler.replay` finds in
DIR: the stored status line, every header line, the body still content-coded
(so Scrapy's own decompression runs as in a live crawl), flagged ``replayed``.
Redirects replay hop by hop because every hop was archived as its own capture.

The response looks as the live HTTP/1.1 handler made it: Scrapy's headers the
way Twisted hands them over (``Content-Length`` first, connection headers
gone), and the raw head, reason phrase and start time in the request's meta
(:mod:`crawler.meta`), so the rest of the project works unchanged.

A URL the archive does not hold raises :class:`~crawler.replay.NotInArchiveError`,
a capture that is a failed fetch raises :class:`~crawler.replay.ReplayedFailureError`
with its reason: both are IgnoreRequest, never retried, never archived again.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.exceptions import NotConfigured
from scrapy.http import Headers
from scrapy.responsetypes import responsetypes
from scrapy.utils.asyncio import run_in_thread

from crawler.meta import (
    CAPTURE_META,
    EXCHANGE_META,
    HEAD_META,
    REASON_META,
    REPLAY_META,
    STARTED_META,
)
from crawler.replay import (
    NOT_IN_ARCHIVE_REASON,
    REPLAYED_FLAG,
    ArchiveLookup,
    ArchiveReadError,
    NotInArchiveError,
    ReplayedFailureError,
    parse_moment,
)
from crawler.warc.exchange import parse_head_lines

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.replay import Replayed

logger = logging.getLogger(__name__)

#: Headers Twisted keeps out of a response's headers (framing and connection control).
CONNECTION_HEADERS = frozenset(
    {
        b"content-length",
        b"connection",
        b"keep-alive",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
    }
)
#: Statuses that never have a body: Twisted gives them a length of 0.
NO_BODY_STATUSES = frozenset({204, 304})


class ReplayDownloadHandler(BaseDownloadHandler):
    """Serves requests from the archive folder ``ARCHIVER_REPLAY``."""

    lazy = False

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        root = settings.get("ARCHIVER_REPLAY")
        if not root:
            raise NotConfigured("ARCHIVER_REPLAY is not set")
        at = settings.get("ARCHIVER_REPLAY_AT")
        self.at = parse_moment(at) if at else None
        self.lookup = ArchiveLookup(Path(root))
        logger.info(
            "Replaying from %(root)s (%(which)s)",
            {"root": root, "which": f"closest to {self.at:%Y-%m-%dT%H:%M:%SZ}" if at else "latest"},
        )

    async def download_request(self, request: Request) -> Response:
        stats = self.crawler.stats
        assert stats is not None
        # What a previous attempt or redirect hop left must not pass for this one's.
        for key in (HEAD_META, REASON_META, CAPTURE_META, EXCHANGE_META, REPLAY_META):
            request.meta.pop(key, None)
        try:
            found = await run_in_thread(self.lookup.find, request.url, self.at)
            response = None if found is None or found.failure else _response(request, found)
        except ArchiveReadError:
            stats.inc_value("archiver/replay/unreadable")
            logger.warning("Cannot replay %(url)s", {"url": request.url}, exc_info=True)
            raise
        if found is None:
            stats.inc_value("archiver/replay/missing")
            logger.debug("Not in the archive: %(url)s", {"url": request.url})
            raise NotInArchiveError(NOT_IN_ARCHIVE_REASON)
        request.meta[STARTED_META] = found.moment
        if response is None:
            assert found.failure is not None
            stats.inc_value("archiver/replay/failures")
            raise ReplayedFailureError(found.failure)
        stats.inc_value("archiver/replay/served")
        request.meta[REPLAY_META] = found
        return response

    async def close(self) -> None:
        self.lookup.close()


def _status_line(head: bytes) -> tuple[str, int, bytes]:
    """(protocol, status, reason phrase) of a response head, split as Twisted splits it."""
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    parts = line.split(b" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        raise ArchiveReadError(f"archived status line unreadable: {line[:100]!r}") from None
    return parts[0].decode("latin-1"), status, parts[2] if len(parts) > 2 else b""


def scrapy_headers(lines: list[tuple[bytes, bytes]], *, status: int, method: str) -> Headers:
    """Header lines as Scrapy's HTTP/1.1 handler shows them after Twisted parsed them."""
    headers = Headers()
    names = {name.lower(): value for name, value in lines}
    chunked = b"chunked" in names.get(b"transfer-encoding", b"").lower()
    if status in NO_BODY_STATUSES or method == "HEAD":
        headers[b"Content-Length"] = b"0"
    elif not chunked and (length := names.get(b"content-length", b"").strip()).isdigit():
        headers[b"Content-Length"] = str(int(length)).encode()
    for name, value in lines:
        if name.lower() not in CONNECTION_HEADERS:
            headers.appendlist(name, value)
    return headers


def _response(request: Request, found: Replayed) -> Response:
    protocol, status, reason = _status_line(found.head)
    request.meta[HEAD_META] = found.head
    request.meta[REASON_META] = reason
    headers = scrapy_headers(parse_head_lines(found.head), status=status, method=request.method)
    respcls = responsetypes.from_args(headers=headers, url=request.url, body=found.body)
    ip = found.ip_address
    try:
        address = ipaddress.ip_address(ip) if ip else None
    except ValueError:
        address = None
    return respcls(
        url=request.url,
        status=status,
        headers=headers,
        body=found.body,
        flags=[REPLAYED_FLAG],
        ip_address=address,
        protocol=protocol,
    )
