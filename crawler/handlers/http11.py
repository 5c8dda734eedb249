"""Scrapy's HTTP/1.1 download handler, keeping what the archive needs and Scrapy drops.

A Scrapy :class:`~scrapy.http.Response` holds headers as Twisted parsed them:
names re-cased, repeated headers grouped, ``Content-Length`` rebuilt and put
first, hop-by-hop headers gone, no reason phrase. This handler keeps the
response head exactly as it came over the wire (status line and header lines,
byte for byte) and the moment the request went out, in the request's meta
(see :mod:`crawler.meta`), for the capture.

It hooks into Scrapy's private HTTP/1.1 classes the way Scrapy itself swaps its
lenient parser in; tests of the capture fail if a Scrapy release moves them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    ResponseDataLossError,
    _LenientHTTP11ClientFactory,
    _LenientHTTP11ClientProtocol,
    _LenientHTTPClientParser,
    _ResultT,
    _ScrapyAgent,
    get_dataloss_msg,
    logger,
    maybe_deferred_to_future,
    wrap_twisted_exceptions,
)
from scrapy.exceptions import IgnoreRequest
from twisted.web._newclient import STATUS

from crawler.extensions.archive import ArchiveExtension
from crawler.failures import ARCHIVE_STOPPED
from crawler.meta import CAPTURE_META, EXCHANGE_META, HEAD_META, REASON_META, STARTED_META

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IAddress
    from twisted.web._newclient import Request as TxRequest
    from twisted.web.client import Response as TxResponse
    from twisted.web.iweb import IResponse


class _HeadKeepingParser(_LenientHTTPClientParser):
    """Scrapy's lenient response parser, noting every line of the head as received."""

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
        return _HeadKeepingProtocol(self._quiescentCallback)  # type: ignore[no-untyped-call]


class _HeadKeepingAgent(_ScrapyAgent):
    def _cb_bodyready(
        self, txresponse: TxResponse, request: Request
    ) -> _ResultT | Deferred[_ResultT]:
        request.meta[REASON_META] = bytes(txresponse.phrase or b"")
        request.meta[HEAD_META] = getattr(txresponse, "_archiver_head", None)
        return super()._cb_bodyready(txresponse, request)


class ArchivingHTTP11DownloadHandler(HTTP11DownloadHandler):
    """Downloads like Scrapy's handler and keeps the raw response head and start time."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._pool._factory = _HeadKeepingFactory
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
        # The agent set-up of HTTP11DownloadHandler.download_request(), with our agent.
        agent = _HeadKeepingAgent(
            contextFactory=self._contextFactory,
            bindAddress=self._bind_address,
            pool=self._pool,
            maxsize=self._default_maxsize,
            warnsize=self._default_warnsize,
            fail_on_dataloss=self._fail_on_dataloss,
            crawler=self._crawler,
            tls_verbose_logging=self._tls_verbose_logging,
        )
        try:
            with wrap_twisted_exceptions():
                return await maybe_deferred_to_future(agent.download_request(request))
        except ResponseDataLossError:
            if not self._fail_on_dataloss_warned:
                logger.warning(get_dataloss_msg(request.url))
                self._fail_on_dataloss_warned = True
            raise
