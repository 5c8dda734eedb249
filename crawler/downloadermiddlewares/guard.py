"""Let through only responses whose exchange is in the archive; archive failed fetches.

Once the archive has failed, no request goes out any more.

It sits closest to the downloader, so it sees every response and every download
error before retries, redirects and decompression act on them. It is where a
downloaded response gets archived (:meth:`ArchiveExtension.archive_response`):
its ``process_response`` waits while a large body is digested and compressed in
another thread, and the reactor goes on meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest

from crawler.extensions.archive import ArchiveExtension, archive_of
from crawler.failures import ARCHIVE_STOPPED

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

NOT_ARCHIVED = "response not archived"


class ArchiveGuardMiddleware:
    """Drops responses the archive did not record; records fetches that failed."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
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
        # Once the archive has failed, nothing more is fetched: it could not be kept.
        if self.archive.failed:
            raise IgnoreRequest(f"{ARCHIVE_STOPPED}: {request.url}")

    async def process_response(self, request: Request, response: Response) -> Response:
        if await self.archive.archive_response(response) is None:
            self.crawler.stats.inc_value("archiver/guard/not_archived")
            raise IgnoreRequest(f"{NOT_ARCHIVED}: {response.url}")
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        if not isinstance(exception, IgnoreRequest):
            self.archive.record_failure(request, exception)
