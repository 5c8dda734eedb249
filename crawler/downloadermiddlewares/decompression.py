"""Decode content-coded bodies for the spider: bounded, and off the reactor when heavy.

Scrapy's ``HttpCompressionMiddleware`` decodes gzip, deflate, brotli and zstd
bodies on the reactor, up to ``DOWNLOAD_MAXSIZE`` (1 GiB by default): a few
hundred kilobytes of "gzip bomb" cost seconds and a gigabyte of memory while
every other download waits. This subclass takes its place (priority 590) and

- stops decoding at ``ARCHIVER_MAX_DECODED_SIZE`` (64 MiB, the most text
  extraction reads), or at ``DOWNLOAD_MAXSIZE`` or the request's
  ``download_maxsize`` when smaller. The response is then dropped with a reason
  that names the limit; its body is archived as received all the same (the
  guard middleware, closer to the downloader, archived it first);
- decodes on the reactor only what decodes quickly: one gzip or deflate coding
  of at most :data:`REACTOR_DECODE_INPUT` bytes, which gives at most
  :data:`REACTOR_DECODE_BUDGET` bytes (past them it is decoded again, whole,
  in another thread: a gzip bomb). Everything else goes to the thread at once:
  larger bodies, several codings in a row, brotli and zstd (a body of many
  empty zstd frames or gzip members takes seconds and gives nothing). A thread
  for every body would cost more than it saves: the reactor waits for the
  interpreter lock whenever the thread holds it, and every call that lets the
  lock go (an index query, a file write) waits again (a quarter of an
  archive-only crawl's time, measured with bench/crawl.py).

A request whose callback reads no body (``LEAVE_CODED_META``, which the
archiver's spider sets: it makes text from the archived exchange) gets a body of
one gzip coding, at most :data:`LEAVE_CODED_INPUT` bytes long, whose trailer
does not say it decodes past the response's limit, as received:
Content-Encoding, plain ``Response`` class and all (stat
``archiver/decompression/left_coded``). Decoding every page for nothing took a
fifth of an archive-only crawl's CPU time (bench/profile_crawl.py); meta
refresh reads such a page's start alone (see its middleware). Such a body is
not checked: a damaged one is archived as a page and its text flagged as
damaged by text extraction, where decoding it for the spider failed the entry.

Everything else (warnings, stats, the response class) is Scrapy's own code.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils._compression import _DecompressionMaxSizeExceeded
from scrapy.utils.asyncio import run_in_thread

from crawler.meta import LEAVE_CODED_META

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

#: The largest body, as received, decoded on the reactor: an HTML page's gzip is
#: nearly always smaller. The worst such body (128 KiB of empty gzip members, which
#: Python reads one by one) takes about 20 ms.
REACTOR_DECODE_INPUT = 128 * 1024
#: Decoded bytes a body may give on the reactor (about 2 ms of gzip): past them it
#: is decoded again, in a thread, up to the response's limit.
REACTOR_DECODE_BUDGET = 1024 * 1024
#: Codings decoded on the reactor: their cost is bounded by the input and the budget.
_REACTOR_ENCODINGS = frozenset({b"gzip", b"x-gzip", b"deflate"})
#: The longest body left coded: meta refresh reads up to 8 of its gzip members, each
#: read copying what follows it.
LEAVE_CODED_INPUT = 1024 * 1024
#: The codings of bodies left coded for a callback that reads none: gzip alone, whose
#: start meta refresh can read (see crawler/downloadermiddlewares/metarefresh.py).
GZIP_CODINGS = frozenset({b"gzip", b"x-gzip"})


class DecompressionMiddleware(HttpCompressionMiddleware):
    """Scrapy's decompression with a bound on the decoded size, heavy bodies in a thread."""

    def __init__(self, *, crawler: Crawler) -> None:
        super().__init__(crawler=crawler)
        self.crawler = crawler
        self.max_decoded = crawler.settings.getint("ARCHIVER_MAX_DECODED_SIZE")
        if self.max_decoded <= 0:
            raise ValueError(
                f"ARCHIVER_MAX_DECODED_SIZE must be a positive number of bytes, "
                f"not {self.max_decoded}"
            )
        #: What a thread decoded, for Scrapy's process_response to take (see _handle_encoding).
        self._decoded: tuple[bytes, list[bytes]] | None = None

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        encodings = response.headers.getlist("Content-Encoding")
        if request.method == "HEAD" or not encodings:
            return response
        limit, limit_name = self._limit(request)
        if request.meta.get(LEAVE_CODED_META) and left_coded(response.body, encodings, limit):
            self.crawler.stats.inc_value("archiver/decompression/left_coded")
            return response
        try:
            decoded = self._decode_on_reactor(response.body, encodings, limit)
            if decoded is None:
                self.crawler.stats.inc_value("archiver/decompression/in_thread")
                decoded = await run_in_thread(self._decode_all, response.body, encodings, limit)
        except _DecompressionMaxSizeExceeded as exc:
            self.crawler.stats.inc_value("archiver/decompression/over_limit")
            reason = (
                f"decoded body larger than {limit_name} ({limit} bytes; "
                f"{len(response.body)} bytes as received, archived as such)"
            )
            logger.warning("Dropped %(url)s: %(reason)s", {"url": response.url, "reason": reason})
            raise IgnoreRequest(reason) from exc
        # Scrapy's own steps from here, with the body decoded above (no thread needed).
        self._decoded = decoded
        try:
            return super().process_response(request, response)
        finally:
            self._decoded = None

    def _handle_encoding(
        self, body: bytes, content_encoding: list[bytes], max_size: int
    ) -> tuple[bytes, list[bytes]]:
        if self._decoded is not None:
            return self._decoded
        return self._decode_all(body, content_encoding, max_size)

    def _decode_all(
        self, body: bytes, content_encoding: list[bytes], max_size: int
    ) -> tuple[bytes, list[bytes]]:
        """Scrapy's decoding: pure, so it may run in a thread."""
        return super()._handle_encoding(body, content_encoding, max_size)

    def _limit(self, request: Request) -> tuple[int, str]:
        """The decoded size limit of ``request``'s body, and the setting that sets it."""
        if "download_maxsize" in request.meta:
            download_max, name = request.meta["download_maxsize"], "download_maxsize"
        else:
            download_max, name = self._max_size, "DOWNLOAD_MAXSIZE"
        if download_max and download_max < self.max_decoded:  # 0: no download limit
            return download_max, name
        return self.max_decoded, "ARCHIVER_MAX_DECODED_SIZE"

    def _decode_on_reactor(
        self, body: bytes, content_encoding: list[bytes], limit: int
    ) -> tuple[bytes, list[bytes]] | None:
        """``body`` decoded, or None when it is for the thread (see the module's notes)."""
        to_decode, _ = self._split_encodings(content_encoding)
        if to_decode and (
            len(body) > REACTOR_DECODE_INPUT
            or len(to_decode) > 1
            or not _REACTOR_ENCODINGS.issuperset(to_decode)
        ):
            return None
        budget = min(limit, REACTOR_DECODE_BUDGET)
        try:
            return self._decode_all(body, content_encoding, budget)
        except _DecompressionMaxSizeExceeded:
            if limit <= budget:
                raise  # over the response's own limit: no thread would decode it
            return None


def is_gzip(encodings: list[bytes]) -> bool:
    """Whether Content-Encoding values ``encodings`` name one gzip coding."""
    return len(encodings) == 1 and encodings[0].strip().lower() in GZIP_CODINGS


def left_coded(body: bytes, encodings: list[bytes], limit: int) -> bool:
    """Whether a body may be left as received for a callback that reads none.

    One gzip coding, at most :data:`LEAVE_CODED_INPUT` bytes, whose trailer does
    not say it decodes past ``limit``: such a bomb is dropped here with its reason,
    as for any callback (a trailer can lie: text extraction has its own bound).
    """
    return (
        is_gzip(encodings)
        and len(body) <= LEAVE_CODED_INPUT
        and int.from_bytes(body[-4:], "little") <= limit  # ISIZE, modulo 2**32
    )
