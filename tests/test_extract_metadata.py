"""Authors, dates and languages from extract_page and its helpers."""

from __future__ import annotations

import gzip
import json
from copy import deepcopy
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from lxml import html as lxml_html
from trafilatura.metadata import extract_metadata
from trafilatura.utils import load_html

from crawler.extract.author import clean_author
from crawler.extract.fields import corpus_metadata
from crawler.extract.metadata import page_language, parse_date
from crawler.extract.page import extract_page

if TYPE_CHECKING:
    from lxml.html import HtmlElement

PARAGRAPHS = "".join(
    f"<p>Paragraph {n}: rivers across the region rose sharply after two days of heavy rain, "
    "flooding low-lying streets and closing several bridges to traffic overnight.</p>"
    for n in range(4)
)


@pytest.mark.parametrize(
    ("found", "cleaned"),
    [
        ("Jane Doe", "Jane Doe"),
        ("Jane Doe; John Roe", "Jane Doe; John Roe"),
        ("Jane Doe Last Updated March", "Jane Doe"),
        ("Updated January", None),
        ("Author Jane Doe", "Jane Doe"),
        ("Name; Jane Doe", "Jane Doe"),
        ("Jane Doe December", "Jane Doe"),
        ("Jane Doe; October", "Jane Doe"),
        ("Jane Doe • March", "Jane Doe"),
        ("Jane Doe On December 9", "Jane Doe"),
        ("December", None),
        ("Drat 1", "Drat"),
        # Month names that are names too stay unless a day follows.
        ("Tom May", "Tom May"),
        ("June Carter", "June Carter"),
        ("Sam Jones Jr.", "Sam Jones Jr."),
        (None, None),
        ("", None),
    ],
)
def test_clean_author(found: str | None, cleaned: str | None) -> None:
    assert clean_author(found) == cleaned


@pytest.mark.parametrize(
    ("html", "language"),
    [
        ('<html lang="pt_br"><body></body></html>', "pt-BR"),
        ('<html lang="EN"><body></body></html>', "en"),
        ('<html lang="zh-Hant-TW"><body></body></html>', "zh"),
        (
            '<html><head><meta http-equiv="Content-Language" content="de, en"></head></html>',
            "de",
        ),
        ('<html><head><meta property="og:locale" content="fr_FR"></head></html>', "fr-FR"),
        ('<html lang="not a language"><body></body></html>', None),
        ("<html><body></body></html>", None),
    ],
)
def test_page_language(html: str, language: str | None) -> None:
    assert page_language(lxml_html.fromstring(html)) == language


def test_parse_date() -> None:
    assert parse_date("2021-03-05") == date(2021, 3, 5)
    assert parse_date("2021-03-05T08:00:00Z") == date(2021, 3, 5)
    assert parse_date("2021-02-30") is None
    assert parse_date(None) is None


def test_an_article_gets_its_headline_author_and_date() -> None:
    page = f"""<html lang="en"><head>
<title>Weather: Rivers Rise After Storm | The Daily Example</title>
<meta property="og:site_name" content="The Daily Example">
<meta name="author" content="Jane Reporter">
<meta property="article:published_time" content="2021-03-05T08:00:00Z">
</head><body><article><h1>Rivers Rise After Storm</h1>{PARAGRAPHS}</article></body></html>"""
    result = extract_page(
        page.encode(), url="https://daily.example/2021/rivers", content_type="text/html"
    )
    assert result.outcome == "text"
    assert result.title == "Rivers Rise After Storm"
    assert result.site_name == "The Daily Example"
    assert result.author == "Jane Reporter"
    assert result.published == date(2021, 3, 5)
    assert result.language == "en"
    # trafilatura keeps the headline as the first paragraph; the corpus writer drops it.
    assert result.paragraphs[0] == "Rivers Rise After Storm"
    assert len(result.paragraphs) == 5


def test_a_page_without_main_text_keeps_its_metadata() -> None:
    page = b"""<html lang="en"><head><title>Opening Hours | The Example Library</title>
<meta property="og:site_name" content="The Example Library">
<meta property="article:published_time" content="2020-01-02T10:00:00Z">
</head><body><div></div></body></html>"""
    result = extract_page(page, url="https://library.example/hours", content_type=None)
    assert (result.outcome, result.reason) == ("empty", "no main text found")
    assert result.title == "Opening Hours"
    assert result.published == date(2020, 1, 2)
    assert result.language == "en"
    assert result.paragraphs == ()


def test_nothing_to_parse() -> None:
    result = extract_page(b"", url="https://example.com/", content_type="text/html")
    assert (result.outcome, result.title) == ("empty", None)


SHARED_PAGES = Path(__file__).resolve().parents[2] / "shared" / "pages"
#: Pages of each shared set compared field by field with trafilatura's own metadata.
PAGES_PER_SET = 40
KEPT_FIELDS = ("title", "author", "url", "hostname", "date", "sitename")


def _trafilatura_metadata(tree: HtmlElement, url: str) -> dict[str, object]:
    params = {"original_date": True, "extensive_search": True, "max_date": "2026-11-30"}
    theirs = extract_metadata(deepcopy(tree), url, dict(params))
    ours = corpus_metadata(deepcopy(tree), url, dict(params))
    assert {name: getattr(ours, name) for name in KEPT_FIELDS} == {
        name: getattr(theirs, name) for name in KEPT_FIELDS
    }
    return {name: getattr(ours, name) for name in KEPT_FIELDS}


def test_corpus_metadata_reads_what_trafilatura_reads() -> None:
    page = (
        "<html><head><title>Bridge reopens | The Town Paper</title>"
        "<meta name=author content='Jane Doe'><meta property=og:site_name content=townpaper>"
        "<meta name=keywords content='bridges, buses'>"
        "<link rel=license href='https://creativecommons.org/licenses/by/4.0/'>"
        "<meta property=article:published_time content=2026-11-01></head>"
        f"<body><article><h1>Bridge reopens</h1>{PARAGRAPHS}</article></body></html>"
    )
    found = _trafilatura_metadata(lxml_html.fromstring(page), "https://town.example/a")
    assert found["author"] == "Jane Doe"
    assert found["date"] == "2026-11-01"
    assert found["sitename"] == "Townpaper"


def _shared_pages() -> list[tuple[Path, str]]:
    pages = []
    for listing in sorted(SHARED_PAGES.glob("*/pages.jsonl")):
        rows = [
            json.loads(line)
            for line in listing.read_text(encoding="utf-8").split("\n")
            if line.strip()
        ]
        pages += [(listing.parent / row["html"], row.get("url") or "") for row in rows][
            :PAGES_PER_SET
        ]
    return pages


@pytest.mark.skipif(
    not SHARED_PAGES.is_dir(), reason="../shared/pages (the shared page sets) is absent"
)
def test_corpus_metadata_equals_trafilatura_on_real_pages() -> None:
    pages = _shared_pages()
    assert pages
    dated = 0
    for path, url in pages:
        tree = load_html(gzip.decompress(path.read_bytes()))
        if tree is not None:
            dated += _trafilatura_metadata(tree, url)["date"] is not None
    # Real pages: most have a date, so the comparison is not of empty fields.
    assert dated > len(pages) / 2
