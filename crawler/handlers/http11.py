"""Scrapy's HTTP/1.1 download handler, keeping what the archive needs and Scrapy drops.

A Scrapy :class:`~scrapy.http.Response` has no reason phrase, and no record of
when the request went out. This handler notes both in the request's meta
(``archiver_reason``, ``archiver_started``) so the capture can write the real
status line and the time the exchange began.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    ResponseDataLossError,
    _ResultT,
    _ScrapyAgent,
    get_dataloss_msg,
    logger,
    maybe_deferred_to_future,
    wrap_twisted_exceptions,
)

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response
    from twisted.internet.defer import Deferred
    from twisted.web.client import Response as TxResponse

REASON_META = "archiver_reason"
STARTED_META = "archiver_started"


class _PhraseKeepingAgent(_ScrapyAgent):
    def _cb_bodyready(
        self, txresponse: TxResponse, request: Request
    ) -> _ResultT | Deferred[_ResultT]:
        request.meta[REASON_META] = bytes(txresponse.phrase or b"")
        return super()._cb_bodyready(txresponse, request)


class ArchivingHTTP11DownloadHandler(HTTP11DownloadHandler):
    """Downloads like Scrapy's handler and notes the reason phrase and start time."""

    async def download_request(self, request: Request) -> Response:
        request.meta.pop(REASON_META, None)
        request.meta[STARTED_META] = datetime.now(UTC)
        # Same agent set-up as HTTP11DownloadHandler.download_request().
        agent = _PhraseKeepingAgent(
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
