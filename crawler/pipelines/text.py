"""Turn archived pages into corpus text files, conversion records and index outcomes.

For each page, the response as archived (status, stored header lines, body
still content-coded) goes to the extraction pool, off the reactor and within
ARCHIVER_EXTRACT_TIMEOUT, where :func:`crawler.extract.convert.convert_page`
makes the document, exactly as ``archiver extract`` does from the WARC files.
The text is archived as a ``conversion`` record that refers to the response,
then written to ``text/`` under the name the input gives it. Whatever happens,
the capture's index row says what the page gave: a text file, or no text and why.
"""

from __future__ import annotations

import logging
import os
from datetime import date
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import load_object

from crawler.extensions.archive import ArchiveExtension, archive_of
from crawler.extract.pool import ExtractionPool
from crawler.items import Page, SeedOutcome
from crawler.layout import Layout
from crawler.outcomes import TextOutcome
from crawler.text.document import file_name, write_document
from crawler.warc.exchange import stored_headers

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from crawler.archive import Capture
    from crawler.extract.convert import Conversion

logger = logging.getLogger(__name__)


class TextPipeline:
    """Extracts text from archived pages and writes the corpus files."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("ARCHIVER_TEXT_ENABLED"):
            raise NotConfigured("ARCHIVER_TEXT_ENABLED is off")
        self.crawler = crawler
        self.workers = settings.getint("ARCHIVER_EXTRACT_WORKERS") or os.cpu_count() or 1
        self.timeout = settings.getfloat("ARCHIVER_EXTRACT_TIMEOUT")
        self.function = load_object(settings.get("ARCHIVER_EXTRACT_FUNCTION"))
        self.layout = Layout.of(settings)
        self.text_dir = self.layout.text_dir
        self._archive: ArchiveExtension | None = None
        self._pool: ExtractionPool | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def open_spider(self) -> None:
        self._archive = archive_of(self.crawler)
        self._pool = ExtractionPool(self.function, workers=self.workers, timeout=self.timeout)
        logger.info(
            "Extracting text with %(workers)d worker(s) into %(dir)s",
            {"workers": self.workers, "dir": self.text_dir},
        )

    def close_spider(self) -> None:
        if self._pool is not None:
            self._pool.close()

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, SeedOutcome) and item.capture is not None:
            outcome = TextOutcome.HTTP_ERROR if item.http_status else TextOutcome.FAILED
            self._record(item.capture, text_outcome=outcome, text_reason=item.reason)
        elif isinstance(item, Page):
            copy = item.archived_copy
            if copy is not None and copy.failure_capture is not None:
                self._record(
                    copy.failure_capture,
                    text_outcome=TextOutcome.HTTP_ERROR,
                    text_reason=copy.failure,
                )
            try:
                await self._page(item)
            except Exception as exc:
                # An extractor plugged in by the user, a stopped pool: the page still gets
                # an outcome, and the item goes on to be indexed.
                logger.warning("Text of %s failed", item.url, exc_info=True)
                self._no_text(item, TextOutcome.FAILED, f"{type(exc).__name__}: {exc}")
        return item

    async def _page(self, page: Page) -> None:
        assert self._pool is not None
        exchange = page.exchange
        if exchange is not None:
            status, reason, headers, body = (
                exchange.status,
                exchange.reason,
                stored_headers(exchange),
                exchange.body,
            )
        else:
            # A page from a spider that did not keep the exchange: Scrapy's decoded view.
            status, reason, headers, body = page.status, None, list(page.headers), page.body
        conversion: Conversion = await maybe_deferred_to_future(
            self._pool.run(
                body,
                status=status,
                reason=reason,
                headers=headers,
                url=page.source_url,
                original_url=page.seed.url,
                fetched=date.fromisoformat(page.capture.fetched_at[:10]),
            )
        )
        if conversion.outcome != TextOutcome.WRITTEN or conversion.text is None:
            self._no_text(page, conversion.outcome, conversion.reason or str(conversion.outcome))
            return
        self._write(page, conversion)

    def _write(self, page: Page, conversion: Conversion) -> None:
        assert self._archive is not None and conversion.text is not None
        converted: dict[str, str] = {}
        # A replay archives nothing again: its text is made anew from records already kept,
        # and a page's row keeps the conversion record of the crawl that fetched it.
        if not self._archive.replaying:
            conversion_id = self._archive.record_conversion(page.capture, conversion.text)
            if conversion_id is None:
                reason = "the conversion record could not be archived"
                self._no_text(page, TextOutcome.FAILED, reason)
                return
            converted = {"conversion_record_id": conversion_id}
        name = page.seed.document or file_name(page.seed.position, page.seed.url)
        try:
            self.text_dir.mkdir(parents=True, exist_ok=True)
            # Not synced to disk one by one: the conversion record holds the same text.
            write_document(self.text_dir, name, conversion.text, durable=False)
        except OSError as exc:
            logger.warning(
                "Could not write %(path)s", {"path": self.text_dir / name}, exc_info=True
            )
            self.crawler.stats.inc_value("archiver/text/write_errors")
            self._no_text(page, TextOutcome.FAILED, f"cannot write text file: {exc}")
            return
        relative = self.layout.text_relative(name)
        page.text_path = relative
        self.crawler.stats.inc_value("archiver/text/written")
        self._record(
            page.capture,
            **conversion.index_fields(),
            text_path=relative,
            **converted,
        )
        logger.debug("Text of %(url)s in %(path)s", {"url": page.seed.url, "path": relative})

    def _no_text(self, page: Page, outcome: TextOutcome, reason: str) -> None:
        page.text_reason = reason
        self.crawler.stats.inc_value(f"archiver/text/{outcome}")
        logger.debug("No text from %(url)s: %(reason)s", {"url": page.url, "reason": reason})
        self._record(page.capture, text_outcome=str(outcome), text_reason=reason)

    def _record(self, capture: Capture, **fields: Any) -> None:
        assert self._archive is not None
        self._archive.record_text_outcome(capture, **fields)
