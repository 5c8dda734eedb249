"""Conditional recrawls: ask with the last capture's validators, answer a 304 with the page.

For a GET whose URL has a good capture in this archive's index, the request
gets ``If-None-Match`` (its ``ETag``) and ``If-Modified-Since`` (its
``Last-Modified``). Nothing is ever served from a cache: the server decides,
and what it said is archived (a 304 as a ``server-not-modified`` revisit, by
:class:`~crawler.archive.Archive`).

A 304 to our own question would be an error to Scrapy's HttpErrorMiddleware
and tell the spider nothing. So the 304 is answered here with the archived
original (its stored head and still content-coded body, read with
:func:`crawler.warc.reader.read_record`), flagged ``not-modified``: any spider
sees the page as it is, the archive keeps what really happened, and the
capture in the request's meta stays the revisit. It sits after the guard
(which checks that the 304 was archived) and before decompression, so the
body is decoded like a downloaded one.

Off in replay crawls (nothing is fetched) and with ``ARCHIVER_CONDITIONAL_ENABLED``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urldefrag

from scrapy.exceptions import NotConfigured
from scrapy.http import Headers
from scrapy.responsetypes import responsetypes

from crawler.extensions.archive import ArchiveExtension, archive_of
from crawler.layout import Layout
from crawler.warc.exchange import parse_head_lines
from crawler.warc.reader import read_record

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.index import GoodCapture

logger = logging.getLogger(__name__)

#: The flag of a response that is the archived page standing for a 304.
NOT_MODIFIED_FLAG = "not-modified"
#: Request meta: the :class:`~crawler.index.GoodCapture` whose validators were sent.
VALIDATED_META = "archiver_validated"
#: Request meta: set to True to send a request without validators.
NO_CONDITIONAL_META = "archiver_no_conditional"
CONDITIONAL_HEADERS = (b"If-None-Match", b"If-Modified-Since")
#: Headers not carried from the archived head to the response the spider sees.
_FRAMING = frozenset({b"transfer-encoding", b"connection", b"keep-alive"})


class ConditionalMiddleware:
    """Adds validators from the index; turns a 304 to them into the archived page."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("ARCHIVER_CONDITIONAL_ENABLED"):
            raise NotConfigured("ARCHIVER_CONDITIONAL_ENABLED is off")
        if settings.get("ARCHIVER_REPLAY"):
            raise NotConfigured("a replay crawl fetches nothing")
        self.crawler = crawler
        self.layout = Layout.of(settings)
        self._archive: ArchiveExtension | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    @property
    def archive(self) -> ArchiveExtension:
        if self._archive is None:
            self._archive = archive_of(self.crawler)
        return self._archive

    def process_request(self, request: Request) -> None:
        carried: GoodCapture | None = request.meta.get(VALIDATED_META)
        if carried is not None and carried.url != urldefrag(request.url)[0]:
            # A redirect copies headers and meta: those validators are another URL's.
            for name in CONDITIONAL_HEADERS:
                request.headers.pop(name, None)
            del request.meta[VALIDATED_META]
        if request.method != "GET" or request.meta.get(NO_CONDITIONAL_META):
            return
        if b"If-None-Match" in request.headers or b"If-Modified-Since" in request.headers:
            return  # the spider asked its own question
        last = self.archive.last_good(request.url)
        if last is None or not (last.etag or last.last_modified):
            return
        if last.etag:
            request.headers[b"If-None-Match"] = last.etag
        if last.last_modified:
            request.headers[b"If-Modified-Since"] = last.last_modified
        request.meta[VALIDATED_META] = last
        self.crawler.stats.inc_value("archiver/conditional/requests")

    def process_response(self, request: Request, response: Response) -> Response:
        last: GoodCapture | None = request.meta.get(VALIDATED_META)
        if response.status != 304 or last is None or last.url != urldefrag(request.url)[0]:
            return response
        try:
            original = self._original(request, last)
        except (OSError, ValueError):
            # The original is gone from the folder: the 304 stays a 304 (an HTTP error).
            logger.warning(
                "The original of %(url)s is not readable in %(file)s",
                {"url": request.url, "file": last.warc_file},
                exc_info=True,
            )
            self.crawler.stats.inc_value("archiver/conditional/original_missing")
            return response
        self.crawler.stats.inc_value("archiver/conditional/not_modified")
        return original

    def _original(self, request: Request, last: GoodCapture) -> Response:
        record = read_record(self.layout.warc_dir / last.warc_file, last.warc_offset)
        if record.status != 200 or record.http_head is None:
            raise ValueError(f"{record.record_id} is not a 200 response")
        headers = Headers()
        for name, value in parse_head_lines(record.http_head):
            if name.lower() not in _FRAMING:
                headers.appendlist(name, value)
        body = record.entity_body
        respcls = responsetypes.from_args(headers=headers, url=request.url, body=body)
        return respcls(
            url=request.url,
            status=200,
            headers=headers,
            body=body,
            flags=[NOT_MODIFIED_FLAG],
            request=request,
            protocol=record.protocol,
        )
