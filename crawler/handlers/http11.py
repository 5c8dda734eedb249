"""Scrapy's HTTP/1.1 download handler, keeping what the archive needs and Scrapy drops.

A Scrapy :class:`~scrapy.http.Response` holds headers as Twisted parsed them:
names re-cased, repeated headers grouped, ``Content-Length`` rebuilt and put
first, hop-by-hop headers gone, no reason phrase. This handler keeps the
response head exactly as it came over the wire (status line and header lines,
byte for byte) and the moment the request went out, in the request's meta
(see :mod:`crawler.meta`), for the capture.

It hooks into Scrapy's private HTTP/1.1 classes the way Scrapy itself swaps its
lenient parser in; tests of the capture fail if a Scrapy release moves them. The
download itself is Scrapy's own ``download_request()`` code run with the
head-keeping agent in place of Scrapy's, so that what Scrapy honours there (the
size limits, a spider's ``download_maxsize``, its fixes) holds here too.

Two things differ from Scrapy's handler, so that every request that reaches a
server is in the archive:

- Twisted's connection pool retries a request once, silently, when a reused
  connection fails before the response (``retryAutomatically``); that attempt
  would never be archived. Here the pool does not, and the failure goes to
  Scrapy's RetryMiddleware: archived as a failed fetch, then retried.
- A response head line longer than Twisted's limit (:data:`MAX_HEAD_LINE`) ends the
  download with that reason, not as a connection "closed cleanly".
"""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy.core.downloader.handlers import http11 as scrapy_http11
from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    _LenientHTTP11ClientFactory,
    _LenientHTTP11ClientProtocol,
    _LenientHTTPClientParser,
    _ResultT,
    _ScrapyAgent,
)
from scrapy.exceptions import IgnoreRequest
from twisted.web._newclient import STATUS

from crawler.extensions.archive import ArchiveExtension
from crawler.failures import ARCHIVE_STOPPED, WireError
from crawler.meta import CAPTURE_META, EXCHANGE_META, HEAD_META, REASON_META, STARTED_META

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IAddress
    from twisted.web._newclient import Request as TxRequest
    from twisted.web.client import Response as TxResponse
    from twisted.web.iweb import IResponse


#: The longest line of a response head, in bytes: Twisted's line limit, kept as it is.
MAX_HEAD_LINE: int = _LenientHTTPClientParser.MAX_LENGTH


class _HeadKeepingParser(_LenientHTTPClientParser):
    """Scrapy's lenient response parser, noting every line of the head as received."""

    MAX_LENGTH = MAX_HEAD_LINE

    def lineLengthExceeded(self, line: bytes) -> None:
        # Twisted only drops the connection, which then reads as closed cleanly.
        # Raised here, the protocol gives up with this error as the reason.
        raise WireError(f"response header line longer than {self.MAX_LENGTH} bytes")

    def lineReceived(self, line: bytes) -> None:
        if self.state == STATUS:
            # A new status line: after a 1xx, the head that counts starts again.
            self._archiver_lines: list[bytes] = []
        self._archiver_lines.append(line)
        if not line.rstrip(b"\r"):
            # The head is complete; note it before Twisted hands the response on.
            self.response._archiver_head = b"".join(raw + b"\n" for raw in self._archiver_lines)
        super().lineReceived(line)


class _HeadKeepingProtocol(_LenientHTTP11ClientProtocol):
    def request(self, request: TxRequest) -> Deferred[IResponse]:
        result = super().request(request)
        # Scrapy swaps in its parser class the same way; ours adds the notes.
        assert self._parser is not None
        self._parser.__class__ = _HeadKeepingParser
        return result


class _HeadKeepingFactory(_LenientHTTP11ClientFactory):
    def buildProtocol(self, addr: IAddress | None) -> _HeadKeepingProtocol:
        return _HeadKeepingProtocol(self._pool_unless_closing)  # type: ignore[no-untyped-call]

    def _pool_unless_closing(self, protocol: _HeadKeepingProtocol) -> None:
        """Put an idle connection back in the pool, unless it is closing.

        A stopped download (``StopDownload``: a robots.txt cut at its limit) closes its
        connection, yet Twisted still parks it in the pool once the response is read:
        the next request to that host would go out on the closing socket and fail.
        Twisted's automatic retry, which the handler turns off, used to hide that.
        """
        if getattr(protocol.transport, "disconnecting", False):
            return
        self._quiescentCallback(protocol)


class _HeadKeepingAgent(_ScrapyAgent):
    def _cb_bodyready(
        self, txresponse: TxResponse, request: Request
    ) -> _ResultT | Deferred[_ResultT]:
        request.meta[REASON_META] = bytes(txresponse.phrase or b"")
        request.meta[HEAD_META] = getattr(txresponse, "_archiver_head", None)
        return super()._cb_bodyready(txresponse, request)


def _scrapy_download_with(
    agent: type[_ScrapyAgent],
) -> Callable[[HTTP11DownloadHandler, Request], Coroutine[Any, Any, Response]]:
    """Scrapy's ``HTTP11DownloadHandler.download_request()``, building ``agent`` instead.

    The same code object, run with the handler module's globals but for the
    agent class: Scrapy's own download logic, with nothing of it copied here.
    """
    scrapy_code = HTTP11DownloadHandler.download_request
    function = types.FunctionType(
        scrapy_code.__code__,
        {**vars(scrapy_http11), "_ScrapyAgent": agent},
        scrapy_code.__name__,
        scrapy_code.__defaults__,
        scrapy_code.__closure__,
    )
    function.__kwdefaults__ = scrapy_code.__kwdefaults__
    return function


_download_keeping_heads = _scrapy_download_with(_HeadKeepingAgent)


class ArchivingHTTP11DownloadHandler(HTTP11DownloadHandler):
    """Downloads like Scrapy's handler and keeps the raw response head and start time."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._pool._factory = _HeadKeepingFactory
        # A silent second attempt would reach the server without reaching the archive.
        self._pool.retryAutomatically = False
        self._archive: ArchiveExtension | None = None

    def _archive_failed(self) -> bool:
        if self._archive is None:
            self._archive = self._crawler.get_extension(ArchiveExtension)
        return self._archive is not None and self._archive.failed

    async def download_request(self, request: Request) -> Response:
        # Requests already queued for a slot when the archive failed go no further:
        # nothing they fetched could be kept.
        if self._archive_failed():
            raise IgnoreRequest(f"{ARCHIVE_STOPPED}: {request.url}")
        # What a previous attempt or redirect hop left must not pass for this download's.
        for key in (HEAD_META, REASON_META, CAPTURE_META, EXCHANGE_META):
            request.meta.pop(key, None)
        request.meta[STARTED_META] = datetime.now(UTC)
        return await _download_keeping_heads(self, request)
