"""The date a page shows by its headline, when the date in its metadata is shown nowhere."""

from __future__ import annotations

import json
from datetime import date

import pytest
from htmldate import find_date
from lxml import html as lxml_html

from crawler.extract.facts import PageFacts
from crawler.extract.page import extract_page
from crawler.extract.shown import (
    AFTER_HEADLINE,
    BEFORE_HEADLINE,
    shown_date,
    shown_dates,
    visible_text,
)

HEADLINE = "Beginner's guide to types of cameras for digital photography"
PARAGRAPH = "<p>" + "Cameras come in many shapes, and each suits a kind of picture. " * 4 + "</p>"


def page(
    byline: str,
    *,
    after: str = "",
    before: str = "",
    modified: str | None = "2021-07-22",
    head: str = "",
) -> bytes:
    """An article published 2020-03-11 by its metadata, revised ``modified`` (JSON-LD)."""
    item = {"@type": "Article", "headline": HEADLINE, "datePublished": "2020-03-11T08:00:00Z"}
    if modified:
        item["dateModified"] = f"{modified}T09:30:00+00:00"
    return (
        "<html><head><title>Camera types</title>"
        '<meta property="article:published_time" content="2020-03-11T08:00:00+00:00">'
        f'<script type="application/ld+json">{json.dumps(item)}</script>{head}</head>'
        f"<body>{before}<article><h1>{HEADLINE}</h1><p class='byline'>{byline}</p>"
        f"{PARAGRAPH * 6}{after}</article></body></html>"
    ).encode()


def ld(**item: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(item)}</script>'


def published(body: bytes, fetched: date | None = None) -> date | None:
    return extract_page(
        body, url="https://photo.test/guide", content_type="text/html", fetched=fetched
    ).published


def test_the_declared_date_shown_by_the_headline_wins_over_a_hidden_one() -> None:
    body = page("By Craig Hull · July 22, 2021")
    # htmldate itself takes the publication date of the metadata, which the page never shows.
    assert find_date(body.decode(), original_date=True) == "2020-03-11"
    assert published(body) == date(2021, 7, 22)
    assert published(page("Von Craig Hull, 22. Juli 2021")) == date(2021, 7, 22)
    assert published(page("Craig Hull | 22/07/2021")) == date(2021, 7, 22)


@pytest.mark.parametrize(
    ("byline", "after"),
    [
        ("By Craig Hull · Updated July 22, 2021", ""),  # a revision, not the story's date
        ("By Craig Hull · Last modified: July 22, 2021", ""),
        ("Updated 9:30 AM EDT, Thu July 22, 2021", ""),
        ("Mise à jour le 22 juillet 2021", ""),
        ("By Craig Hull · July 22, 2021 (updated)", ""),
        ("By Craig Hull · July 22, 2021", "<p>First published March 11, 2020.</p>"),  # shown
        ("By Craig Hull", "<p>Reviewed on July 22, 2021</p>"),
        ("By Craig Hull · July 23, 2021", ""),  # not a date the page declares
        ("By Craig Hull · March 10, 2020 · July 22, 2021", ""),  # shown, in another time zone
    ],
)
def test_the_date_found_stays(byline: str, after: str) -> None:
    assert published(page(byline, after=after)) == date(2020, 3, 11)


def test_the_first_declared_date_by_the_headline_is_taken() -> None:
    dateline = "<p>Photography desk, July 22, 2021</p>"
    assert published(page("By Craig Hull", before=dateline)) == date(2021, 7, 22)
    two = page("By Craig Hull · May 5, 2022 · July 22, 2021", head=META_MODIFIED % "2022-05-05")
    assert published(two) == date(2022, 5, 5)
    # A date above the headline but past BEFORE_HEADLINE is the frame's.
    far = f"<p>Archive of July 22, 2021</p><p>{'menu ' * (BEFORE_HEADLINE // 5 + 10)}</p>"
    assert published(page("By Craig Hull", before=far)) == date(2020, 3, 11)


def test_a_label_is_sought_after_the_headline_only() -> None:
    reviewed = HEADLINE.replace("photography", "photography (Ranked & Reviewed)")
    body = page("Craig Hull | July 22, 2021").replace(HEADLINE.encode(), reviewed.encode())
    assert published(body) == date(2021, 7, 22)


def test_the_window_is_placed_on_the_headline_element() -> None:
    # The headline's words in a breadcrumb far above the <h1> do not move the window there.
    crumb = f"<p>Home / {HEADLINE}</p><p>{'menu ' * (AFTER_HEADLINE // 5 + 10)}</p>"
    assert published(page("By Craig Hull · July 22, 2021", before=crumb)) == date(2021, 7, 22)


META_MODIFIED = '<meta property="article:modified_time" content="%s">'


def test_dates_are_declared_by_meta_tags_json_ld_and_time_elements() -> None:
    only_meta = page(
        "By Craig Hull · July 22, 2021", modified=None, head=META_MODIFIED % "2021-07-22"
    )
    assert published(only_meta) == date(2021, 7, 22)
    time = page("By Craig Hull · <time datetime='2021-07-22'>July 22, 2021</time>", modified=None)
    assert published(time) == date(2021, 7, 22)
    event = '<meta itemprop="startDate" content="2021-07-22">'  # an event's date, not the page's
    assert published(page("Workshop: July 22, 2021", modified=None, head=event)) == date(
        2020, 3, 11
    )
    tree = lxml_html.fromstring(
        page("x", head=ld(**{"@type": "Comment", "dateCreated": "2022-01-02"})).decode()
    )
    facts = PageFacts.read(tree, "https://photo.test/guide")
    assert facts.dates == {date(2020, 3, 11), date(2021, 7, 22)}  # not the comment's


def test_a_page_without_a_date_found_takes_the_one_shown() -> None:
    tree = lxml_html.fromstring(page("By Craig Hull · July 22, 2021").decode())
    facts = PageFacts.read(tree, "https://photo.test/guide")
    assert shown_date(None, tree, facts) == date(2021, 7, 22)
    found = date(2020, 3, 11)
    headless = lxml_html.fromstring("<html><head><time datetime='2021-07-22'></time></head></html>")
    assert shown_date(found, headless, PageFacts.read(headless, None)) == found


def test_a_date_far_from_the_headline_is_not_the_pages() -> None:
    far = "<p>" + "x" * (AFTER_HEADLINE + 50) + "</p>"
    body = page("By Craig Hull", after=far + "<p>Changed July 22, 2021</p>")
    assert published(body) == date(2020, 3, 11)
    near = page(f"By Craig Hull · July 22, 2021 {far}")
    assert published(near) == date(2021, 7, 22)


def test_a_day_apart_is_one_moment_in_two_time_zones() -> None:
    body = page("By Craig Hull · March 12, 2020", modified="2020-03-12")
    assert published(body) == date(2020, 3, 11)


def test_a_date_after_the_capture_is_not_taken() -> None:
    body = page("By Craig Hull · July 22, 2021")
    assert published(body, fetched=date(2021, 1, 1)) == date(2020, 3, 11)
    assert published(body, fetched=date(2021, 8, 1)) == date(2021, 7, 22)


def test_dates_are_read_in_the_forms_pages_write_them() -> None:
    text = (
        "friday, december 19, 2025 · 19. dezember 2025 · 19 de diciembre de 2025 · "
        "19th of dec. 2025 · 2025-12-19 · 19.12.2025 · 2025年12月19日 · sept 3, 2024"
    )
    days = [day for _at, day in shown_dates(text)]
    assert days == [date(2025, 12, 19)] * 7 + [date(2024, 9, 3)]
    # A numeric date that reads both ways gives both; an impossible one gives none.
    assert [day for _at, day in shown_dates("03/04/2025 31/02/2025")] == [
        date(2025, 3, 4),
        date(2025, 4, 3),
    ]


def test_scripts_and_styles_are_no_visible_text() -> None:
    tree = lxml_html.fromstring(
        "<html><body><p>One <b>two</b> three</p><script>var d='July 22, 2021'</script>"
        "four<noscript><p>July 22, 2021</p></noscript><style>p{}</style>five</body></html>"
    )
    assert visible_text(tree) == ("one two three four five", None)
    commented = lxml_html.fromstring("<html><body>a<!-- c -->b<h1>Head</h1>c</body></html>")
    assert visible_text(commented, commented.find(".//h1")) == ("a b head c", (4, 8))
