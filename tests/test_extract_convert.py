"""The page -> document step that live crawls and replay share, and content decoding."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from crawler.extract.coding import decode_content
from crawler.extract.convert import UnreadableRecordError, convert_page, convert_record
from crawler.extract.page import Extraction
from crawler.outcomes import ExtractionOutcome, TextOutcome
from crawler.text.document import parse
from crawler.warc.reader import iter_records
from tests.test_warc_reader import EXCHANGE, write_exchanges

ARTICLE = (
    b"<html><head><title>Harbour Reopens | Coast News</title>"
    b"<meta property='og:site_name' content='Coast News'></head><body><article>"
    + b"<p>The harbour reopened on Monday after a week of repairs to the old sea wall, "
    b"and the first fishing boats left before dawn.</p>" * 3 + b"</article></body></html>"
)
HTML = [(b"Content-Type", b"text/html; charset=utf-8")]


def convert(body: bytes, headers: list[tuple[bytes, bytes]], status: int = 200, **kwargs: object):  # type: ignore[no-untyped-def]
    return convert_page(
        body,
        status=status,
        headers=headers,
        url="http://example.com/final",
        original_url="http://example.com/asked",
        fetched=date(2024, 5, 6),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "coding, encode",
    [
        (b"gzip", lambda data: gzip.compress(data, mtime=0)),
        (b"x-gzip", lambda data: gzip.compress(data, mtime=0)),
        (b"deflate", zlib.compress),
        (b"deflate", lambda data: zlib.compress(data, wbits=-15)),  # raw deflate, as IIS sends
        (b"gzip", lambda data: gzip.compress(data[:100]) + gzip.compress(data[100:])),
        (b"identity", lambda data: data),
    ],
)
def test_content_codings_are_undone(coding: bytes, encode: object) -> None:
    decoded = decode_content([(b"Content-Encoding", coding)], encode(ARTICLE))  # type: ignore[operator]
    assert decoded.body == ARTICLE
    assert decoded.problem is None


def test_many_gzip_members_decode_as_one_body() -> None:
    members = b"".join(gzip.compress(b"<p>%d</p>" % n, mtime=0) for n in range(3000))
    decoded = decode_content([(b"Content-Encoding", b"gzip")], members)
    assert decoded.problem is None
    assert decoded.body == b"".join(b"<p>%d</p>" % n for n in range(3000))


def test_two_codings_are_undone_last_first() -> None:
    body = gzip.compress(zlib.compress(ARTICLE), mtime=0)
    decoded = decode_content([(b"Content-Encoding", b"deflate, gzip")], body)
    assert decoded.body == ARTICLE


def test_damaged_and_oversized_bodies_are_flagged() -> None:
    cut = decode_content([(b"Content-Encoding", b"gzip")], gzip.compress(ARTICLE)[:-30])
    assert cut.problem == "compressed body cut short"
    assert cut.cut
    assert ARTICLE.startswith(cut.body[:50])

    bomb = gzip.compress(b"\0" * 5_000_000)
    limited = decode_content([(b"Content-Encoding", b"gzip")], bomb, limit=1_000_000)
    assert len(limited.body) == 1_000_000
    assert limited.problem == "decoded body larger than 1000000 bytes"
    assert limited.cut and limited.too_large and not cut.too_large
    exact = decode_content([(b"Content-Encoding", b"gzip")], bomb, limit=5_000_000)
    assert len(exact.body) == 5_000_000 and exact.problem is None and not exact.too_large

    unknown = decode_content([(b"Content-Encoding", b"compress")], ARTICLE)
    assert unknown.body == ARTICLE
    assert unknown.problem == "unknown Content-Encoding 'compress'"

    # Servers that label plain bytes as gzip: the stored bytes are the page.
    mislabelled = decode_content([(b"Content-Encoding", b"gzip")], ARTICLE)
    assert mislabelled.body == ARTICLE
    assert mislabelled.problem is not None
    assert not mislabelled.cut and not unknown.cut


def test_no_text_is_made_from_a_body_that_decodes_past_the_limit() -> None:
    # Members of zeros, one after the other: a few hundred bytes, 70 MiB decoded.
    bomb = gzip.compress(bytes(1024 * 1024), mtime=0) * 70
    conversion = convert(bomb, [*HTML, (b"Content-Encoding", b"gzip")])
    assert conversion.outcome == TextOutcome.FAILED
    assert conversion.reason == "decoded body larger than 67108864 bytes: no text made from it"
    # Not HTML comes first, as for any body.
    json = [(b"Content-Type", b"application/json"), (b"Content-Encoding", b"gzip")]
    assert convert(bomb, json).outcome == TextOutcome.NOT_HTML


def test_a_page_becomes_its_document() -> None:
    plain = convert(ARTICLE, HTML)
    assert plain.outcome == TextOutcome.WRITTEN
    assert plain.text is not None
    doc = parse(plain.text)
    assert doc.title == "Harbour Reopens"
    assert doc.site_name == "Coast News"
    assert doc.url == "http://example.com/asked"  # the URL the user gave
    assert plain.reason is None  # sound bytes, decoded as declared: nothing to say
    assert plain.index_fields()["text_chars"] == sum(len(p) for p in doc.paragraphs)

    # The same page stored gzip-compressed gives the same bytes: one decoder for both paths.
    zipped = convert(gzip.compress(ARTICLE, mtime=0), [*HTML, (b"Content-Encoding", b"gzip")])
    assert zipped.text == plain.text


@pytest.mark.parametrize(
    "body, headers, status, outcome, reason",
    [
        (ARTICLE, HTML, 404, TextOutcome.HTTP_ERROR, "HTTP 404 Not Found"),
        (b"%PDF-1.4", [(b"Content-Type", b"application/pdf")], 200, TextOutcome.NOT_HTML,
         "not HTML (application/pdf)"),
        (b"{}", [], 200, TextOutcome.NOT_HTML, "not HTML (no Content-Type)"),
        (b"  \n", HTML, 200, TextOutcome.EMPTY, "empty body"),
        (b"<html><head><title>x</title></head><body></body></html>", HTML, 200, TextOutcome.EMPTY,
         "no main text found"),
    ],
)  # fmt: skip
def test_pages_without_text_say_why(
    body: bytes, headers: list[tuple[bytes, bytes]], status: int, outcome: str, reason: str
) -> None:
    result = convert(body, headers, status)
    assert (result.outcome, result.reason) == (outcome, reason)
    assert result.text is None


def test_the_reason_phrase_of_an_error_is_the_servers() -> None:
    result = convert(ARTICLE, HTML, 404, reason=b"Not Here")
    assert result.reason == "HTTP 404 Not Here"


def test_untyped_markup_is_sniffed_as_html() -> None:
    assert convert(ARTICLE, []).outcome == TextOutcome.WRITTEN


def broken_extractor(body: bytes, **kwargs: object) -> Extraction:
    raise RuntimeError("extractor bug")


def empty_extractor(body: bytes, **kwargs: object) -> Extraction:
    return Extraction(ExtractionOutcome.EMPTY, "nothing here")


def test_a_plugged_in_extractor_failing_is_an_outcome() -> None:
    failed = convert(ARTICLE, HTML, extract=broken_extractor)
    assert (failed.outcome, failed.reason) == (TextOutcome.FAILED, "RuntimeError: extractor bug")
    empty = convert(ARTICLE, HTML, extract=empty_extractor)
    assert (empty.outcome, empty.reason) == (TextOutcome.EMPTY, "nothing here")


def test_a_record_converts_where_it_is_read(tmp_path: Path) -> None:
    page = replace(
        EXCHANGE,
        status=200,
        reason=b"OK",
        response_headers=[*HTML, (b"Content-Encoding", b"gzip")],
        body=gzip.compress(ARTICLE, mtime=0),
    )
    write_exchanges(tmp_path, page)
    (path,) = tmp_path.glob("*.warc.gz")
    response = next(r for r in iter_records(path) if getattr(r, "record_type", "") == "response")
    from_record = convert_record(
        str(path), response.offset, url=page.url, original_url="http://example.com/asked"
    )
    direct = convert(ARTICLE, HTML)
    assert from_record.outcome == TextOutcome.WRITTEN
    assert from_record.text is not None and direct.text is not None
    assert parse(from_record.text).paragraphs == parse(direct.text).paragraphs
    with pytest.raises(UnreadableRecordError, match="record not readable"):
        convert_record(str(path), path.stat().st_size + 100, url=page.url, original_url=page.url)
    with pytest.raises(UnreadableRecordError, match="not an HTTP response record: warcinfo"):
        convert_record(str(path), 0, url=page.url, original_url=page.url)


CAFE = (
    "<html><head>{meta}<title>Café naïve | Coast News</title></head><body><article>"
    + "<p>Le café crème est servi à la terrasse, près de la rivière, chaque matin d'été.</p>" * 3
    + "</article></body></html>"
)


@pytest.mark.parametrize(
    ("headers", "meta"),
    [
        ([(b"Content-Type", b"text/html; charset=UTF-8")], ""),
        ([(b"Content-Type", b"text/html")], "<meta charset='utf-8'>"),
        ([], "<meta http-equiv='Content-Type' content='text/html; charset=utf-8'>"),
    ],
)
def test_a_wrongly_declared_charset_is_repaired_and_said(
    headers: list[tuple[bytes, bytes]], meta: str
) -> None:
    body = CAFE.format(meta=meta).encode("cp1252")
    conversion = convert(body, headers)
    assert conversion.outcome == TextOutcome.WRITTEN
    assert conversion.reason == "declared utf-8, decoded as cp1252"
    assert conversion.text is not None
    doc = parse(conversion.text)
    assert doc.title == "Café naïve"
    assert doc.paragraphs[0].startswith("Le café crème est servi à la terrasse, près de la rivière")
    assert "\ufffd" not in conversion.text


LONG = (
    b"<html><head><title>Harbour Reopens</title></head><body><article>"
    + b"".join(
        b"<p>Paragraph %d: the harbour reopened on Monday after repairs to the sea wall.</p>" % n
        for n in range(200)
    )
    + b"</article></body></html>"
)


def test_text_from_a_cut_body_is_flagged() -> None:
    compressed = gzip.compress(LONG, mtime=0)
    cut = convert(compressed[: len(compressed) // 2], [*HTML, (b"Content-Encoding", b"gzip")])
    assert cut.outcome == TextOutcome.WRITTEN
    assert cut.reason == "text from a truncated body (compressed body cut short)"

    declared = convert(ARTICLE[:-200], HTML, truncated="length")
    assert declared.outcome == TextOutcome.WRITTEN
    assert declared.reason == (
        "text from a truncated body (longer than the size limit; WARC-Truncated: length)"
    )
    # Both at once, and a value WARC/1.1 does not name.
    both = convert(
        compressed[: len(compressed) // 2],
        [*HTML, (b"Content-Encoding", b"gzip")],
        truncated="unspecified",
    )
    assert both.reason == (
        "text from a truncated body (compressed body cut short; WARC-Truncated: unspecified)"
    )
    # A page without text says why, and that its body was cut.
    empty = convert(b"<html><body></body></html>", HTML, truncated="disconnect")
    assert empty.outcome == TextOutcome.EMPTY
    assert empty.reason == (
        "no main text found; text from a truncated body (the connection closed before the "
        "whole body arrived; WARC-Truncated: disconnect)"
    )


def test_a_truncated_record_converts_flagged(tmp_path: Path) -> None:
    page = replace(
        EXCHANGE,
        status=200,
        reason=b"OK",
        response_headers=HTML,
        body=ARTICLE[:-100],
        truncated="length",
    )
    write_exchanges(tmp_path, page)
    (path,) = tmp_path.glob("*.warc.gz")
    response = next(r for r in iter_records(path) if getattr(r, "record_type", "") == "response")
    conversion = convert_record(str(path), response.offset, url=page.url, original_url=page.url)
    assert conversion.outcome == TextOutcome.WRITTEN
    assert conversion.reason == (
        "text from a truncated body (longer than the size limit; WARC-Truncated: length)"
    )
