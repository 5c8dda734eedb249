"""Authors, dates and languages from extract_page and its helpers."""

from __future__ import annotations

from datetime import date

import pytest
from lxml import html as lxml_html

from crawler.extract.author import clean_author
from crawler.extract.metadata import page_language, parse_date
from crawler.extract.page import extract_page

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
