"""Turn one archived HTML page into clean text and metadata.

:func:`extract_page` is the entry point: the live crawl calls it in a worker
process, offline replay calls it on bytes read from the WARC, and both get the
same result for the same bytes and capture date. :func:`extract_page_fast`, the
same without the check for main text that trafilatura cut off, can take its
place in both (``ARCHIVER_EXTRACT_FUNCTION``).
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trafilatura import bare_extraction
from trafilatura.utils import load_html

from crawler.extract import speedups
from crawler.extract.author import clean_author
from crawler.extract.cutoff import restore_cut_off
from crawler.extract.decode import decode_html
from crawler.extract.facts import PageFacts
from crawler.extract.fields import corpus_metadata
from crawler.extract.furniture import drop_furniture
from crawler.extract.metadata import declared_site_name, page_language, parse_date
from crawler.extract.shown import shown_date
from crawler.extract.title import best_title
from crawler.outcomes import ExtractionOutcome
from crawler.text.document import normalize_line, normalize_paragraphs

if TYPE_CHECKING:
    from datetime import date

    from lxml.html import HtmlElement
    from trafilatura.settings import Document as TrafilaturaDocument

logger = logging.getLogger(__name__)

# trafilatura's expressions with cheaper regular-expression tests and its parser with
# element classes looked up in C; same results. In every process that extracts, live or
# offline, since they all import this module.
speedups.install()


@dataclass(frozen=True, slots=True)
class Extraction:
    """What a page gave: text and metadata, or why there is none."""

    outcome: ExtractionOutcome
    reason: str | None = None
    title: str | None = None
    published: date | None = None
    site_name: str | None = None
    author: str | None = None
    language: str | None = None
    paragraphs: tuple[str, ...] = field(default_factory=tuple)
    encoding: str | None = None


def extract_page(
    body: bytes, *, url: str, content_type: str | None, fetched: date | None = None
) -> Extraction:
    """Extract the main text and metadata of an HTML page.

    ``fetched`` (the capture date) bounds the publication date, so that the
    result depends on the page and its capture only, not on the day it is run.
    A page without main text ("empty") still gets the metadata it has. Main
    text that trafilatura cut off is put back where two other extractors agree
    on it (:mod:`crawler.extract.cutoff`).
    """
    return _extract(body, url=url, content_type=content_type, fetched=fetched, restore=True)


def extract_page_fast(
    body: bytes, *, url: str, content_type: str | None, fetched: date | None = None
) -> Extraction:
    """:func:`extract_page` without the check for main text that trafilatura cut off.

    For crawls where throughput counts more than the odd page's missing half
    (``ARCHIVER_EXTRACT_FUNCTION = "crawler.extract.page.extract_page_fast"``): the
    check costs an eighth to a sixth of a page's extraction CPU on articles.
    """
    return _extract(body, url=url, content_type=content_type, fetched=fetched, restore=False)


def _extract(
    body: bytes, *, url: str, content_type: str | None, fetched: date | None, restore: bool
) -> Extraction:
    html, encoding = decode_html(body, content_type)
    date_params: dict[str, Any] = {"original_date": True, "extensive_search": True}
    if fetched is not None:
        date_params["max_date"] = fetched.isoformat()
    try:
        # Parsed once: trafilatura works on a copy, the title checks read the original.
        tree = load_html(html)
        if tree is None:
            return Extraction(ExtractionOutcome.EMPTY, "no main text found", encoding=encoding)
        facts = PageFacts.read(tree, url)
        # Before the text, as in trafilatura: its text steps work on a copy of the tree.
        metadata = corpus_metadata(tree, url or None, date_params)
        # trafilatura's defaults, measured with bench/extraction.py: favor_precision
        # costs 7 points of body F1 on wcxb (2-20 by page type) and 3 of snippets
        # found on trafilatura-eval; favor_recall costs 2 on wcxb (14 on forums);
        # leaving tables out costs about 1 everywhere. The defaults already run
        # readability and jusText and retry in recall mode when the text is short.
        # Also measured and left out, each worse than the defaults on some set or
        # page type (even/odd halves alike): comments as text (forums +1 to +3,
        # articles -1), dropping repeated paragraphs (readability-testpages -2),
        # adding jusText paragraphs to short texts (more unwanted snippets
        # everywhere, products -2), and choosing a mode by page signals (og:type,
        # JSON-LD type, <article> count): the defaults win in every group.
        document = bare_extraction(
            tree,
            url=url,
            with_metadata=False,
            include_comments=False,
            include_tables=True,
        )
    except Exception as exc:  # trafilatura and lxml raise many types on broken pages
        logger.debug("extraction failed for %s", url, exc_info=True)
        return Extraction(
            ExtractionOutcome.FAILED, f"{type(exc).__name__}: {exc}", encoding=encoding
        )
    # trafilatura gives no document for a page whose text it rejects: the page is
    # empty, with the metadata it has.
    text = "" if document is None or isinstance(document, dict) else document.text or ""
    if restore:
        text = restore_cut_off(text, html, tree)
    return _from_trafilatura(
        metadata, text=text, url=url, tree=tree, facts=facts, encoding=encoding, fetched=fetched
    )


def _from_trafilatura(
    document: TrafilaturaDocument,
    *,
    text: str,
    url: str,
    tree: HtmlElement,
    facts: PageFacts,
    encoding: str,
    fetched: date | None,
) -> Extraction:
    paragraphs = tuple(drop_furniture(normalize_paragraphs(unicodedata.normalize("NFC", text))))
    outcome, reason = (
        (ExtractionOutcome.TEXT, None)
        if paragraphs
        else (ExtractionOutcome.EMPTY, "no main text found")
    )
    return Extraction(
        outcome,
        reason,
        title=_line(best_title(_line(document.title), facts)),
        published=shown_date(parse_date(document.date), tree, facts, latest=fetched),
        site_name=declared_site_name(_line(document.sitename, keep_spaces=True), url),
        author=clean_author(_line(document.author)),
        language=page_language(tree),
        paragraphs=paragraphs,
        encoding=encoding,
    )


def _line(value: str | None, *, keep_spaces: bool = False) -> str | None:
    """One line of metadata as the corpus format holds it, or None when nothing is left."""
    if not value:
        return None
    return normalize_line(unicodedata.normalize("NFC", value), keep_spaces=keep_spaces) or None
