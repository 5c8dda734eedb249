"""Turn archived pages into corpus text files, conversion records and index outcomes.

For each page: HTML goes to the extraction pool (off the reactor, within
ARCHIVER_EXTRACT_TIMEOUT); the text is rendered in the corpus format, archived
as a ``conversion`` record that refers to the response, then written to
``text/`` under the name the input gives it. Whatever happens, the capture's
index row says what the page gave: a text file, or no text and why.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import load_object

from crawler.extensions.archive import ArchiveExtension, archive_of, archive_root
from crawler.extract.pool import ExtractionPool
from crawler.items import Page, SeedOutcome
from crawler.text.document import (
    AmbiguousDocumentError,
    Document,
    DocumentValueError,
    file_name,
    parse_date,
    render,
    write_document,
)
from crawler.warc.exchange import header_value, media_type

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from crawler.archive import Capture
    from crawler.extract.page import Extraction

logger = logging.getLogger(__name__)

_WORDS_RE = re.compile(r"\w+")
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
#: Bytes at the start of a body that sniffing looks at when there is no Content-Type.
SNIFF_BYTES = 512


def looks_like_html(body: bytes) -> bool:
    """Sniff an untyped body the way browsers do: markup near the start."""
    head = body[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<p"))


def text_document(extraction: Extraction, url: str) -> Document:
    """The corpus document of an extraction, with header look-alikes settled.

    The headline that pages repeat at the top of the article is dropped: the
    title line already says it. The format has no escapes: a first paragraph
    shaped like a header line the document lacks would read back as that header.
    A dateline becomes the date, a ``# Heading`` the title; anything else of
    that kind is dropped.
    """
    paragraphs = list(extraction.paragraphs)
    if paragraphs and extraction.title and _same_words(paragraphs[0], extraction.title):
        paragraphs = paragraphs[1:]
    doc = Document(
        title=extraction.title,
        published=extraction.published,
        site_name=extraction.site_name,
        paragraphs=paragraphs,
        url=url,
    )
    for _ in range(3):
        try:
            render(doc)
        except AmbiguousDocumentError:
            first, rest = doc.paragraphs[0], doc.paragraphs[1:]
            if doc.title is None and first.startswith("# "):
                doc = replace(doc, title=first[2:].strip(), paragraphs=rest)
            elif doc.published is None and _as_date(first) is not None:
                doc = replace(doc, published=_as_date(first), paragraphs=rest)
            else:
                doc = replace(doc, paragraphs=rest)
        else:
            return doc
    return doc


def _same_words(a: str, b: str) -> bool:
    return _WORDS_RE.findall(a.casefold()) == _WORDS_RE.findall(b.casefold())


def _as_date(text: str) -> date | None:
    try:
        return parse_date(text)
    except ValueError:
        return None


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
        self.text_dir = archive_root(settings) / "text"
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
            outcome = "http_error" if item.http_status else "failed"
            self._record(item.capture, text_outcome=outcome, text_reason=item.reason)
        elif isinstance(item, Page):
            copy = item.archived_copy
            if copy is not None and copy.failure_capture is not None:
                self._record(
                    copy.failure_capture, text_outcome="http_error", text_reason=copy.failure
                )
            try:
                await self._page(item)
            except Exception as exc:
                # An extractor plugged in by the user, a stopped pool: the page still gets
                # an outcome, and the item goes on to be indexed.
                logger.warning("Text of %s failed", item.url, exc_info=True)
                self._no_text(item, "failed", f"{type(exc).__name__}: {exc}")
        return item

    async def _page(self, page: Page) -> None:
        kind = media_type(page.headers)
        if kind not in HTML_TYPES and not (kind is None and looks_like_html(page.body)):
            self._no_text(page, "not_html", f"not HTML ({kind or 'no Content-Type'})")
            return
        if not page.body.strip():
            self._no_text(page, "empty", "empty body")
            return
        assert self._pool is not None
        fetched = date.fromisoformat(page.capture.fetched_at[:10])
        content_type = header_value(page.headers, b"content-type")
        extraction: Extraction = await maybe_deferred_to_future(
            self._pool.run(
                page.body,
                url=page.source_url,
                content_type=content_type.decode("latin-1") if content_type else None,
                fetched=fetched,
            )
        )
        if extraction.outcome != "text":
            self._no_text(page, extraction.outcome, extraction.reason or extraction.outcome)
            return
        doc = text_document(extraction, page.seed.url)
        try:
            text = render(doc)
        except DocumentValueError as exc:
            self._no_text(page, "failed", f"cannot write the text: {exc}")
            return
        if not doc.paragraphs:
            self._no_text(page, "empty", "no main text found")
            return
        self._write(page, doc, text, extraction)

    def _write(self, page: Page, doc: Document, text: str, extraction: Extraction) -> None:
        assert self._archive is not None
        conversion_id = self._archive.record_conversion(page.capture, text)
        if conversion_id is None:
            self._no_text(page, "failed", "the conversion record could not be archived")
            return
        name = page.seed.document or file_name(page.seed.position, page.seed.url)
        try:
            self.text_dir.mkdir(parents=True, exist_ok=True)
            # Not synced to disk one by one: the conversion record holds the same text.
            write_document(self.text_dir, name, text, durable=False)
        except OSError as exc:
            logger.warning(
                "Could not write %(path)s", {"path": self.text_dir / name}, exc_info=True
            )
            self.crawler.stats.inc_value("archiver/text/write_errors")
            self._no_text(page, "failed", f"cannot write text file: {exc}")
            return
        relative = f"text/{name}"
        page.text_path = relative
        self.crawler.stats.inc_value("archiver/text/written")
        self._record(
            page.capture,
            text_outcome="written",
            text_path=relative,
            title=doc.title,
            published=doc.published.isoformat() if doc.published else None,
            site_name=doc.site_name,
            author=extraction.author,
            language=extraction.language,
            text_chars=sum(len(p) for p in doc.paragraphs),
            conversion_record_id=conversion_id,
        )
        logger.debug("Text of %(url)s in %(path)s", {"url": page.seed.url, "path": relative})

    def _no_text(self, page: Page, outcome: str, reason: str) -> None:
        page.text_reason = reason
        self.crawler.stats.inc_value(f"archiver/text/{outcome}")
        logger.debug("No text from %(url)s: %(reason)s", {"url": page.url, "reason": reason})
        self._record(page.capture, text_outcome=outcome, text_reason=reason)

    def _record(self, capture: Capture, **fields: Any) -> None:
        assert self._archive is not None
        self._archive.record_text_outcome(capture, **fields)
