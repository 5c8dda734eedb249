"""Pages whose declared charset does not decode their bytes: repaired, and said so."""

from __future__ import annotations

import pytest

from crawler.extract.charset import repair_charset

LATIN = "<p>Le café crème est servi à la terrasse, près de la rivière.</p>"


@pytest.mark.parametrize(
    ("body", "content_type", "text", "note"),
    [
        # The usual case: a page declaring UTF-8 sends windows-1252.
        (
            "<p>Café naïve</p>".encode("cp1252"),
            "text/html; charset=utf-8",
            "<p>Café naïve</p>",
            "declared utf-8, decoded as cp1252",
        ),
        # ... declared in <meta> alone.
        (
            f"<meta charset='utf-8'>{LATIN}".encode("cp1252"),
            "text/html",
            f"<meta charset='utf-8'>{LATIN}",
            "declared utf-8, decoded as cp1252",
        ),
        # Detection finds the legacy encoding when it is not windows-1252.
        (
            "<p>Zażółć gęślą jaźń, powiedział</p>".encode("cp1250"),
            "text/html; charset=utf-8",
            "<p>Zażółć gęślą jaźń, powiedział</p>",
            "declared utf-8, decoded as cp1250",
        ),
        (
            "<p>日本語のニュースです。今日は晴れです。</p>".encode("shift_jis"),
            "text/html; charset=utf-8",
            "<p>日本語のニュースです。今日は晴れです。</p>",
            "declared utf-8, decoded as cp932",
        ),
        # A UTF-8 template around a windows-1252 article: the UTF-8 stays as it is.
        (
            "<p>© 2024 — Site</p>".encode() + LATIN.encode("cp1252"),
            "text/html; charset=utf-8",
            f"<p>© 2024 — Site</p>{LATIN}",
            "declared utf-8, bytes not valid utf-8 decoded as cp1252",
        ),
        # A legacy declaration on UTF-8 bytes.
        (
            "<p>日本語のニュース</p>".encode(),
            "text/html; charset=shift_jis",
            "<p>日本語のニュース</p>",
            "declared cp932, decoded as utf-8",
        ),
    ],
)
def test_a_wrong_declaration_is_repaired(
    body: bytes, content_type: str, text: str, note: str
) -> None:
    repair = repair_charset(body, content_type)
    assert repair is not None
    assert (repair.body.decode("utf-8"), repair.note) == (text, note)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<p>Café naïve</p>".encode(), "text/html; charset=utf-8"),
        ("<p>Café naïve</p>".encode("cp1252"), "text/html; charset=iso-8859-1"),
        # Nothing declared: detection is decode.py's, not a repair.
        ("<p>Café naïve</p>".encode("cp1252"), "text/html"),
        # A byte order mark is taken as it is.
        (b"\xef\xbb\xbf<p>caf\xe9</p>", "text/html; charset=utf-8"),
        # A character cut by the end of a truncated body is no wrong declaration.
        ("<p>Café naïve</p><p>é".encode()[:-1], "text/html; charset=utf-8"),
    ],
)
def test_pages_that_are_what_they_say_are_left_alone(body: bytes, content_type: str) -> None:
    assert repair_charset(body, content_type) is None
