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
stays in its conversion record (``archiver history``). A revisit whose text file
is missing or holds other text is extracted again from the original's bytes
(same bytes, same text) and the file written anew.

A text file that cannot be written (a full disk, a ``text/`` that is not a
writable folder) loses nothing silently and stops the crawl, since such
faults do not heal mid-crawl: the capture's text outcome is ``failed`` with
"could not write text file PATH: [Errno 28] No space left on device", the input
entry's outcome is ``incomplete`` (listed in ``failures``, done again by
``--resume``), the close reason is ``archiver_text_write_error``. The file is
staged before its conversion record is archived, so a text that cannot be
written leaves no version behind, and never a partial file.
"""

from __future__ import annotations

import logging
import os
from datetime import date
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy.utils.misc import load_object

from crawler.extensions.archive import ArchiveExtension, archive_of
from crawler.items import METADATA_FIELDS, Page, SeedOutcome
from crawler.layout import Layout
from crawler.outcomes import Change, InputOutcome, TextOutcome
from crawler.text.document import file_name, stage_document
from crawler.warc.exchange import stored_headers
from crawler.warc.records import sha1_digest

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from crawler.archive import Capture
    from crawler.extract.convert import Conversion
    from crawler.extract.pool import ExtractionPool
    from crawler.index import TextVersion
    from crawler.text.document import StagedDocument

logger = logging.getLogger(__name__)

#: The close reason of a crawl stopped because a text file could not be written.
TEXT_WRITE_ERROR_REASON = "archiver_text_write_error"


class TextFileError(Exception):
    """A page's text file could not be written; the message is the reason recorded."""


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
        self._stopping = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def open_spider(self) -> None:
        # Here, not at module level: Scrapy imports this module also when the pipeline is
        # off, and the pool brings multiprocessing and pebble.
        from crawler.extract.pool import ExtractionPool

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
            except TextFileError as exc:
                return self._incomplete(item, str(exc))
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
        truncated = exchange.truncated if exchange is not None else None
        conversion: Conversion = await maybe_deferred_to_future(
            self._pool.run(
                body,
                status=status,
                reason=reason,
                headers=headers,
                url=page.source_url,
                original_url=page.seed.url,
                fetched=date.fromisoformat(page.capture.fetched_at[:10]),
                truncated=truncated,
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
        page.metadata = {name: getattr(current, name) for name in METADATA_FIELDS}
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
        # Text from a cut body, or decoded otherwise than declared: the entry says so too.
        page.text_reason = conversion.reason
        if current is not None and current.text_digest == digest:
            # Same text from other bytes: no new version. The file is only written when
            # this input names it otherwise than the one that wrote the version (or when
            # it is missing: a text that could not be written in an interrupted crawl).
            if not self._holds(name, digest):
                self._put_in_place(page, self._stage(page, name, conversion.text))
            self._unchanged(page, current, f"same text as text version {current.version}")
            return
        staged = self._stage(page, name, conversion.text)
        converted: dict[str, str] = {}
        # A replay archives nothing again: its text is made anew from records already kept,
        # and a page's row keeps the conversion record of the crawl that fetched it.
        if not self._archive.replaying:
            conversion_id = self._archive.record_conversion(page.capture, conversion.text)
            if conversion_id is None:
                staged.discard()
                reason = "the conversion record could not be archived"
                self._no_text(page, TextOutcome.FAILED, reason)
                return
            converted = {"conversion_record_id": conversion_id}
        self._put_in_place(page, staged)
        relative = self.layout.text_relative(name)
        page.text_path = relative
        seen = current is not None or page.capture.seen_before
        page.change = Change.CHANGED if seen else Change.NEW
        self.crawler.stats.inc_value("archiver/text/written")
        fields = conversion.index_fields()
        page.metadata = {name: fields.get(name) for name in METADATA_FIELDS}
        self._record(
            page.capture,
            **fields,
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

    def _stage(self, page: Page, name: str, text: str) -> StagedDocument:
        """The text written beside its file; TextFileError when it cannot be written."""
        try:
            self.text_dir.mkdir(parents=True, exist_ok=True)
            # Not synced to disk one by one: the conversion record holds the same text.
            return stage_document(self.text_dir, name, text, durable=False)
        except OSError as exc:
            raise self._write_failed(page, name, exc) from exc

    def _put_in_place(self, page: Page, staged: StagedDocument) -> None:
        try:
            staged.commit()
        except OSError as exc:
            staged.discard()
            raise self._write_failed(page, staged.target.name, exc) from exc

    def _write_failed(self, page: Page, name: str, exc: OSError) -> TextFileError:
        """Record that the text file ``name`` could not be written; the error to raise."""
        error = f"[Errno {exc.errno}] {exc.strerror}" if exc.errno and exc.strerror else str(exc)
        reason = f"could not write text file {self.layout.text_relative(name)}: {error}"
        # The reason says it all (errno and path): no traceback per page of a full disk.
        logger.error("%(reason)s (%(url)s)", {"reason": reason, "url": page.seed.url})
        self.crawler.stats.inc_value("archiver/text/write_errors")
        self._no_text(page, TextOutcome.FAILED, reason)
        return TextFileError(reason)

    def _incomplete(self, page: Page, reason: str) -> SeedOutcome:
        """The entry of a page archived without its text file; the crawl stops.

        A full disk does not heal mid-crawl: going on would only add entries that
        ``--resume`` has to do again.
        """
        if not self._stopping:
            self._stopping = True
            logger.error("A text file could not be written; stopping the crawl")
            assert self.crawler.engine is not None
            deferred_from_coro(
                self.crawler.engine.close_spider_async(reason=TEXT_WRITE_ERROR_REASON)
            )
        return SeedOutcome(
            page.seed, InputOutcome.INCOMPLETE, reason, capture=page.capture, url=page.url
        )

    def _no_text(self, page: Page, outcome: TextOutcome, reason: str) -> None:
        page.text_reason = reason
        self.crawler.stats.inc_value(f"archiver/text/{outcome}")
        logger.debug("No text from %(url)s: %(reason)s", {"url": page.url, "reason": reason})
        self._record(page.capture, text_outcome=str(outcome), text_reason=reason)

    def _record(self, capture: Capture, **fields: Any) -> None:
        assert self._archive is not None
        self._archive.record_text_outcome(capture, **fields)
