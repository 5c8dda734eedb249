"""Turn one archived HTML page into clean text and metadata.

:func:`extract_page` is the only entry point: the live crawl calls it in a
worker process, offline replay calls it on bytes read from the WARC, and both
get the same result for the same bytes and capture date.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from trafilatura import bare_extraction

from crawler.extract.decode import decode_html
from crawler.extract.metadata import clean_title, page_language, parse_date
from crawler.text.document import normalize_paragraphs

if TYPE_CHECKING:
    from trafilatura.settings import Document as TrafilaturaDocument

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Extraction:
    """What a page gave: text and metadata, or why there is none."""

    outcome: str  #: "text", "empty" or "failed"
    reason: str | None = None
    title: str | None = None
    published: date | None = None
    site_name: str | None = None
    author: str | None = None
    language: str | None = None
    paragraphs: tuple[str, ...] = field(default_factory=tuple)
    encoding: str | None = None

    @property
    def characters(self) -> int:
        return sum(len(p) for p in self.paragraphs)


def extract_page(
    body: bytes, *, url: str, content_type: str | None, fetched: date | None = None
) -> Extraction:
    """Extract the main text and metadata of an HTML page.

    ``fetched`` (the capture date) bounds the publication date, so that the
    result depends on the page and its capture only, not on the day it is run.
    """
    html, encoding = decode_html(body, content_type)
    date_params = {"original_date": True, "extensive_search": True}
    if fetched is not None:
        date_params["max_date"] = fetched.isoformat()  # type: ignore[assignment]
    try:
        document = bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            date_extraction_params=date_params,
        )
    except Exception as exc:  # trafilatura and lxml raise many types on broken pages
        logger.debug("extraction failed for %s", url, exc_info=True)
        return Extraction("failed", f"{type(exc).__name__}: {exc}", encoding=encoding)
    if document is None or isinstance(document, dict):
        return Extraction("empty", "no main text found", encoding=encoding)
    return _from_trafilatura(document, html, encoding)


def _from_trafilatura(document: TrafilaturaDocument, html: str, encoding: str) -> Extraction:
    text = unicodedata.normalize("NFC", document.text or "")
    paragraphs = tuple(normalize_paragraphs(text))
    site_name = _clean(document.sitename, keep_spaces=True)
    title = clean_title(_clean(document.title), site_name)
    published = parse_date(document.date)
    outcome, reason = ("text", None) if paragraphs else ("empty", "no main text found")
    return Extraction(
        outcome,
        reason,
        title=title,
        published=published,
        site_name=site_name,
        author=_clean(document.author),
        language=page_language(html),
        paragraphs=paragraphs,
        encoding=encoding,
    )


def _clean(value: str | None, *, keep_spaces: bool = False) -> str | None:
    """One line of metadata; ``keep_spaces`` keeps runs of spaces as the page has them."""
    if not value:
        return None
    value = unicodedata.normalize("NFC", value)
    if keep_spaces:
        value = re.sub(r"\s*[\r\n\t\v\f]\s*", " ", value).strip()
    else:
        value = " ".join(value.split())
    return value or None
