"""Page -> corpus document, or the reason there is none: one decision for live and replay.

:func:`convert_page` takes a response as the archive stores it (status, header
lines, body still content-coded) and decides everything between the bytes and
the text file: is it HTML, undo the Content-Encoding, repair a wrongly declared
charset, extract, settle the document's header look-alikes, render. The live
text pipeline runs it in the extraction workers; ``archiver extract`` runs it on
records read back from the WARC files. Same bytes and capture date in, same text out.

Text is never passed off as sound when it is not: text from a body that was cut
(``WARC-Truncated``, a compressed body that ends early or is damaged) is written,
since it is most of the page more often than not, with the reason "text from a
truncated body (...)"; text decoded otherwise than the page declares says how.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.extract.charset import repair_charset
from crawler.extract.coding import decode_content
from crawler.outcomes import ExtractionOutcome, TextOutcome
from crawler.text.document import (
    AmbiguousDocumentError,
    Document,
    DocumentValueError,
    parse_date,
    render,
)
from crawler.warc.exchange import header_value, media_type, standard_reason

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import date

    from crawler.extract.page import Extraction
    from crawler.warc.exchange import Header

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
#: Bytes at the start of a body that sniffing looks at when there is no Content-Type.
SNIFF_BYTES = 512
_WORDS_RE = re.compile(r"\w+")
#: What the WARC-Truncated values of WARC/1.1 (section 5.19) say of a body.
TRUNCATIONS = {
    "length": "longer than the size limit",
    "time": "longer than the time limit",
    "disconnect": "the connection closed before the whole body arrived",
}


@dataclass(frozen=True, slots=True)
class Conversion:
    """What a page gave: a rendered document (outcome ``written``) or why not."""

    outcome: TextOutcome
    reason: str | None = None
    document: Document | None = None
    text: str | None = None  #: the document in the corpus format
    author: str | None = None
    language: str | None = None

    def index_fields(self) -> dict[str, Any]:
        """The ``captures`` columns this conversion fills (but the text path)."""
        fields: dict[str, Any] = {"text_outcome": str(self.outcome), "text_reason": self.reason}
        doc = self.document
        if doc is not None and self.text is not None:
            fields.update(
                title=doc.title,
                published=doc.published.isoformat() if doc.published else None,
                site_name=doc.site_name,
                author=self.author,
                language=self.language,
                text_chars=sum(len(p) for p in doc.paragraphs),
            )
        return fields


def looks_like_html(body: bytes) -> bool:
    """Sniff an untyped body the way browsers do: markup near the start."""
    head = body[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<p"))


def is_html(headers: Sequence[Header], body: bytes) -> bool:
    kind = media_type(list(headers))
    return kind in HTML_TYPES or (kind is None and looks_like_html(body))


def convert_page(
    body: bytes,
    *,
    status: int,
    headers: Sequence[Header],
    url: str,
    original_url: str,
    fetched: date | None,
    reason: bytes | None = None,
    truncated: str | None = None,
    extract: Callable[..., Extraction] | None = None,
) -> Conversion:
    """The corpus document of one archived response, or the outcome that says why not.

    ``body`` is the entity body as stored (still content-coded), ``headers``
    the response's header lines, ``url`` the URL the content stands for (links
    and site names are read from it), ``original_url`` the URL the user gave
    (the document's ``Original url``), ``fetched`` the capture date, which
    bounds the publication date, ``reason`` the status line's reason phrase,
    ``truncated`` the response record's ``WARC-Truncated`` value (the body is
    cut: ``length``, ``time``, ``disconnect``...). ``extract`` is the extraction function
    (``ARCHIVER_EXTRACT_FUNCTION``; :func:`crawler.extract.page.extract_page`).
    """
    if not 200 <= status < 300:
        phrase = (standard_reason(status) if reason is None else reason).decode("latin-1")
        return Conversion(TextOutcome.HTTP_ERROR, f"HTTP {status} {phrase}".rstrip())
    decoded = decode_content(headers, body)
    if not is_html(headers, decoded.body):
        kind = media_type(list(headers)) or "no Content-Type"
        problem = f"; {decoded.problem}" if decoded.problem else ""
        return Conversion(TextOutcome.NOT_HTML, f"not HTML ({kind}{problem})")
    if decoded.too_large:
        # Not an article, and parsing it would take gigabytes of memory.
        return Conversion(TextOutcome.FAILED, f"{decoded.problem}: no text made from it")
    if not decoded.body.strip():
        return Conversion(TextOutcome.EMPTY, "empty body")
    if extract is None:
        from crawler.extract.page import extract_page

        extract = extract_page
    value = header_value(list(headers), b"content-type")
    content_type = value.decode("latin-1") if value else None
    page = decoded.body
    notes = _truncation_notes(decoded.problem if decoded.cut else None, truncated)
    if decoded.problem and not decoded.cut:
        notes.append(decoded.problem)
    repair = repair_charset(page, content_type)
    if repair is not None:
        # The page's own bytes, as UTF-8 and said to be: every extractor reads them right.
        page = repair.body
        content_type = f"{media_type(list(headers)) or 'text/html'}; charset=utf-8"
        notes.append(repair.note)
    try:
        extraction = extract(page, url=url, content_type=content_type, fetched=fetched)
    except Exception as exc:  # a plugged-in extractor: the page still gets an outcome
        return Conversion(TextOutcome.FAILED, _joined(f"{type(exc).__name__}: {exc}", notes))
    if extraction.outcome != ExtractionOutcome.TEXT:
        outcome = TextOutcome(extraction.outcome)
        return Conversion(outcome, _joined(extraction.reason or str(outcome), notes))
    try:
        doc, text = settled_document(extraction, original_url)
    except DocumentValueError as exc:
        return Conversion(TextOutcome.FAILED, _joined(f"cannot write the text: {exc}", notes))
    if not doc.paragraphs:
        return Conversion(TextOutcome.EMPTY, _joined("no main text found", notes))
    return Conversion(
        TextOutcome.WRITTEN,
        _joined(None, notes),
        document=doc,
        text=text,
        author=extraction.author,
        language=extraction.language,
    )


def _truncation_notes(cut: str | None, truncated: str | None) -> list[str]:
    """The note a cut body gives its text: why it is cut (decoding, ``WARC-Truncated``)."""
    why = [cut] if cut else []
    if truncated:
        meaning = TRUNCATIONS.get(truncated.strip().lower())
        why += [meaning] if meaning else []
        why.append(f"WARC-Truncated: {truncated}")
    return [f"text from a truncated body ({'; '.join(why)})"] if why else []


def _joined(reason: str | None, notes: list[str]) -> str | None:
    return "; ".join([reason, *notes] if reason else notes) or None


class UnreadableRecordError(ValueError):
    """The record :func:`convert_record` was sent to does not read as an HTTP response."""


def convert_record(
    path: str,
    offset: int,
    *,
    url: str,
    original_url: str,
    extract: Callable[..., Extraction] | None = None,
) -> Conversion:
    """:func:`convert_page` of the response record at ``offset`` in the WARC file ``path``.

    The record is read where this runs (an extraction worker), so the caller
    only names it: nothing of the page passes through the caller's process.
    The capture date is the record's ``WARC-Date``. Raises
    :class:`UnreadableRecordError` when there is no HTTP response there.
    """
    from crawler.warc.reader import capture_date, read_record

    try:
        record = read_record(Path(path), offset)
    except (OSError, ValueError) as exc:
        raise UnreadableRecordError(f"record not readable: {exc}") from None
    if record.record_type != "response" or record.status is None:
        raise UnreadableRecordError(f"not an HTTP response record: {record.record_type}")
    return convert_page(
        record.entity_body,
        status=record.status,
        reason=record.reason,
        headers=record.http_headers,
        url=url,
        original_url=original_url,
        fetched=capture_date(record.date),
        truncated=record.header("WARC-Truncated"),
        extract=extract,
    )


def settled_document(extraction: Extraction, url: str) -> tuple[Document, str]:
    """The corpus document of an extraction and its text, header look-alikes settled.

    The headline that pages repeat at the top of the article is dropped: the
    title line already says it. The format has no escapes: a first paragraph
    shaped like a header line the document lacks would read back as that header.
    A dateline becomes the date, a ``# Heading`` the title; anything else of
    that kind is dropped. Raises DocumentValueError when no rendering is possible.
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
            return doc, render(doc)
        except AmbiguousDocumentError:
            first, rest = doc.paragraphs[0], doc.paragraphs[1:]
            if doc.title is None and first.startswith("# "):
                doc = replace(doc, title=first[2:].strip(), paragraphs=rest)
            elif doc.published is None and _as_date(first) is not None:
                doc = replace(doc, published=_as_date(first), paragraphs=rest)
            else:
                doc = replace(doc, paragraphs=rest)
    return doc, render(doc)


def _same_words(a: str, b: str) -> bool:
    return _WORDS_RE.findall(a.casefold()) == _WORDS_RE.findall(b.casefold())


def _as_date(text: str) -> date | None:
    try:
        return parse_date(text)
    except ValueError:
        return None
