"""Turn archived pages into corpus text files, conversion records and index outcomes.

For each page, the response as archived (status, stored header lines, body
still content-coded) goes to the extraction pool, off the reactor and within
ARCHIVER_EXTRACT_TIMEOUT, where :func:`crawler.extract.convert.convert_page`
makes the document, exactly as ``archiver extract`` does from the WARC files.
The text is archived as a ``conversion`` record that refers to the response,
then written to ``text/`` under the name the input gives it. Whatever happens,
the capture's index row says what the page gave: a text file, or no text and why.

Recrawls keep a history, not copies. A revisit (the same payload, or a 304)
is not extracted again: its row says ``unchanged`` and refers to the text
version it repeats. New bytes whose text has the same digest as the URL's
current version (an ad, a token) leave the text file and the history alone
(``unchanged``, no conversion record). Changed text is a new version: a new
conversion record, and the text file holds the latest; every earlier version
stays in its conversion record (``archiver history``).
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
from crawler.outcomes import Change, TextOutcome
from crawler.text.document import file_name, write_document
from crawler.warc.exchange import stored_headers
from crawler.warc.records import sha1_digest

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from crawler.archive import Capture
    from crawler.extract.convert import Conversion
    from crawler.index import TextVersion

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
        if self._repeats(page):
            return
        exchange = page.exchange
        # A 304's exchange holds no page: the response is the archived original then.
        if exchange is not None and exchange.status != 304:
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

    def _name(self, page: Page) -> str:
        return page.seed.document or file_name(page.seed.position, page.seed.url)

    def _current(self, page: Page) -> TextVersion | None:
        """The URL's current text version, if this crawl writes into the archive that has it."""
        assert self._archive is not None
        if self._archive.replaying:
            return None
        return self._archive.last_text(page.capture.url, before=page.capture.capture_id)

    def _repeats(self, page: Page) -> bool:
        """Record a revisit whose text file is in place as unchanged, without extracting it."""
        if page.capture.revisit_of is None:
            return False
        current = self._current(page)
        if current is None or page.capture.revisit_of not in (current.record_id, current.refers_to):
            # The latest text did not come from these bytes (they gave none, or other
            # text since): made anew from the original's bytes.
            return False
        if not self._holds(self._name(page), current.text_digest):
            return False  # no file with that text to refer to: written anew
        reason = f"{page.capture.profile}: same payload as text version {current.version}"
        self._unchanged(page, current, reason)
        return True

    def _unchanged(self, page: Page, current: TextVersion, reason: str) -> None:
        relative = self.layout.text_relative(self._name(page))
        page.text_path = relative
        page.change = Change.UNCHANGED
        self.crawler.stats.inc_value("archiver/text/unchanged")
        self._record(
            page.capture,
            text_outcome=str(TextOutcome.UNCHANGED),
            text_reason=reason,
            text_path=relative,
            conversion_record_id=current.conversion_record_id,
            text_digest=current.text_digest,
            text_words=current.text_words,
            title=current.title,
        )

    def _write(self, page: Page, conversion: Conversion) -> None:
        assert self._archive is not None and conversion.text is not None
        digest = sha1_digest(conversion.text.encode("utf-8"))
        words = len(conversion.text.split())
        current = self._current(page)
        name = self._name(page)
        if current is not None and current.text_digest == digest:
            # Same text from other bytes: no new version. The file is only written when
            # this input names it otherwise than the one that wrote the version.
            if not self._holds(name, digest) and not self._write_file(page, name, conversion):
                return
            self._unchanged(page, current, f"same text as text version {current.version}")
            return
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
        if not self._write_file(page, name, conversion):
            return
        relative = self.layout.text_relative(name)
        page.text_path = relative
        seen = current is not None or page.capture.seen_before
        page.change = Change.CHANGED if seen else Change.NEW
        self.crawler.stats.inc_value("archiver/text/written")
        self._record(
            page.capture,
            **conversion.index_fields(),
            text_path=relative,
            text_digest=digest,
            text_words=words,
            **converted,
        )
        logger.debug("Text of %(url)s in %(path)s", {"url": page.seed.url, "path": relative})

    def _holds(self, name: str, digest: str | None) -> bool:
        """Whether the text file ``name`` holds the text of ``digest`` (names follow the input)."""
        try:
            data = (self.text_dir / name).read_bytes()
        except OSError:
            return False
        return digest is not None and sha1_digest(data) == digest

    def _write_file(self, page: Page, name: str, conversion: Conversion) -> bool:
        assert conversion.text is not None
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
            return False
        return True

    def _no_text(self, page: Page, outcome: TextOutcome, reason: str) -> None:
        page.text_reason = reason
        self.crawler.stats.inc_value(f"archiver/text/{outcome}")
        logger.debug("No text from %(url)s: %(reason)s", {"url": page.url, "reason": reason})
        self._record(page.capture, text_outcome=str(outcome), text_reason=reason)

    def _record(self, capture: Capture, **fields: Any) -> None:
        assert self._archive is not None
        self._archive.record_text_outcome(capture, **fields)
