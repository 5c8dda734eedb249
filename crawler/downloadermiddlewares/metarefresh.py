"""Scrapy's meta refresh redirects, also for pages whose body decompression left coded.

Decompression leaves a gzip body as received for a callback that reads no body
(see its module). Scrapy's ``MetaRefreshMiddleware`` would not see such a page
as HTML; it reads the first 4,096 characters of a page's text, at most
:data:`PROBE_SIZE` bytes in any encoding. This subclass takes its place
(priority 580) and decodes only that start of such a page:

- when it holds neither the bytes ``refresh`` nor NUL bytes (UTF-16 or UTF-32
  text, whose bytes never spell the word), it has no refresh: the page goes
  on, nothing more decoded (nearly every page);
- else Scrapy's own code is given an HTML response of that start when it gives
  the page's encoding (a byte order mark, the Content-Type's charset, or a
  ``<meta>`` charset in the first 4,096 bytes); else of the whole body (up to
  ``ARCHIVER_MAX_DECODED_SIZE``), from which Scrapy guesses the encoding: the
  first :data:`GUESS_SIZE` bytes when the body is no longer.

Members are read one after another, at most :data:`MAX_MEMBERS` of them (a
body of many empty gzip members gives nothing to read): a refresh after the
eighth member of a page is not seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.redirect import (
    MetaRefreshMiddleware as ScrapyMetaRefreshMiddleware,
)
from scrapy.http import HtmlResponse
from scrapy.responsetypes import responsetypes
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

from crawler.downloadermiddlewares.decompression import is_gzip
from crawler.extract.coding import gzip_start
from crawler.meta import LEAVE_CODED_META

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

#: Decoded bytes read for a refresh: 4,096 characters of up to 4 bytes each.
PROBE_SIZE = 16 * 1024
#: Decoded bytes read first when the start gives no encoding, for Scrapy to guess it from.
GUESS_SIZE = 1024 * 1024
#: Gzip members read at most (a page is nearly always one).
MAX_MEMBERS = 8


class MetaRefreshMiddleware(ScrapyMetaRefreshMiddleware):
    """Scrapy's meta refresh, reading the start of a page left coded."""

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.max_decoded = settings.getint("ARCHIVER_MAX_DECODED_SIZE")

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        encodings = response.headers.getlist("Content-Encoding")
        # Decompression (590) saw it first: still gzip, the body was left coded.
        if request.meta.get(LEAVE_CODED_META) and is_gzip(encodings):
            probe = _probe(response, self.max_decoded)
            if probe is None:
                return response  # no refresh, or not HTML
            result = super().process_response(request, probe)
            return response if result is probe else result
        return super().process_response(request, response)


def _probe(response: Response, limit: int) -> HtmlResponse | None:
    """An HTML response of the start of coded ``response``'s body; None if it has no refresh."""
    head = gzip_start(response.body, PROBE_SIZE, members=MAX_MEMBERS)
    if b"\0" not in head and b"refresh" not in head.lower():
        return None
    headers = response.headers.copy()
    del headers["Content-Encoding"]
    content_type = (headers.get(b"Content-Type") or b"").decode("latin-1")
    if not (
        read_bom(head)[0]
        or http_content_type_encoding(content_type)
        or html_body_declared_encoding(head)
    ):
        head = gzip_start(response.body, GUESS_SIZE, members=MAX_MEMBERS)
        if len(head) == GUESS_SIZE:  # there may be more: Scrapy guesses from all of it
            head = gzip_start(response.body, limit, members=MAX_MEMBERS)
    cls = responsetypes.from_args(headers=headers, url=response.url, body=head)
    if not issubclass(cls, HtmlResponse):
        return None
    return HtmlResponse(
        response.url, status=response.status, headers=headers, body=head, request=response.request
    )
