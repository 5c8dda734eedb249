"""Decoding page bodies: BOM, HTTP charset, <meta>, detection, and the UTF-8 correction."""

from __future__ import annotations

import pytest

from crawler.extract.decode import decode_html


@pytest.mark.parametrize(
    ("body", "content_type", "text", "encoding"),
    [
        # The HTTP charset wins over <meta>, as in browsers; latin-1 is windows-1252 there.
        (
            "<meta charset='utf-8'><p>café €</p>".encode("cp1252"),
            "text/html; charset=iso-8859-1",
            "<meta charset='utf-8'><p>café €</p>",
            "cp1252",
        ),
        # A byte order mark wins over everything.
        ("\ufeff<p>café</p>".encode(), "text/html; charset=iso-8859-1", "<p>café</p>", "utf-8"),
        # <meta> decides when the bytes are not UTF-8.
        (
            "<meta charset='gb2312'><p>中文新闻</p>".encode("gb2312"),
            None,
            "<meta charset='gb2312'><p>中文新闻</p>",
            "gb18030",
        ),
        # ... and loses when they are: a page re-encoded without its <meta> updated.
        (
            "<meta charset='gb2312'><p>中文 é</p>".encode(),
            None,
            "<meta charset='gb2312'><p>中文 é</p>",
            "utf-8",
        ),
        (
            "<meta charset='iso-8859-1'><p>café</p>".encode(),
            "text/html",
            "<meta charset='iso-8859-1'><p>café</p>",
            "utf-8",
        ),
        # Nothing declared: UTF-8 if it decodes, else detection.
        ("<p>straße</p>".encode(), None, "<p>straße</p>", "utf-8"),
    ],
)
def test_decode(body: bytes, content_type: str | None, text: str, encoding: str) -> None:
    assert decode_html(body, content_type) == (text, encoding)


def test_undeclared_legacy_encoding_is_detected() -> None:
    sentence = "Сегодня в городе прошла большая ярмарка, на которую пришли тысячи жителей. "
    body = f"<html><body><p>{sentence * 5}</p></body></html>".encode("windows-1251")
    text, encoding = decode_html(body, "text/html")
    assert sentence in text
    assert encoding in ("cp1251", "windows-1251")


def test_invalid_bytes_become_replacement_characters() -> None:
    text, encoding = decode_html(b"<p>ok \xff\xfe end</p>", "text/html; charset=utf-8")
    assert encoding == "utf-8"
    assert text == "<p>ok \ufffd\ufffd end</p>"
