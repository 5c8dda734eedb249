"""Frame labels ("Read more", "Advertisement") leave the text; sentences with their words stay."""

from __future__ import annotations

from datetime import date

import pytest

from crawler.extract.convert import convert_page
from crawler.extract.furniture import (
    FURNITURE,
    MAX_FURNITURE_CHARS,
    TEASER_LABELS,
    drop_furniture,
    is_furniture,
    is_teaser_label,
)
from crawler.extract.page import extract_page
from crawler.outcomes import ExtractionOutcome, TextOutcome

SENTENCE = (
    "<p>The harbour reopened on Monday after a week of repairs to the old sea wall, "
    "and the first fishing boats left before dawn to reach the northern banks.</p>"
)
PAGE = (
    "<html><head><title>Harbour Reopens</title></head><body><article>"
    "<h1>Harbour Reopens</h1>"
    + SENTENCE * 2
    + "<p>Advertisement</p>"
    + SENTENCE.replace("Monday", "Tuesday")
    + "<p>Share this article with a friend who fishes: the season starts now and the "
    "boats need crews for the long winter months ahead of them.</p>"
    + "<p>Read more...</p><p>12 Comments</p>"
    "</article></body></html>"
).encode()


@pytest.mark.parametrize(
    "line",
    [
        "Read more",
        "READ MORE »",
        "Read more:",
        "- Loading...",
        "12 Comments",
        "Comments (3)",
        "Share this article",
        "Mehr zum Thema",
        "À lire aussi",
        "Werbung",
        "Leave a Review",
        "Keep reading →",
    ],
)
def test_frame_labels_are_furniture(line: str) -> None:
    assert is_furniture(line)


@pytest.mark.parametrize(
    "line",
    [
        "Read more about the harbour in our archive.",
        "print('1')",  # code is not a label, even with a label's word in it
        "## Comments",  # a heading of the text itself
        "/login",  # a path in documentation
        "comments.",  # the end of a sentence broken over lines
        "Search",  # an ordinary heading of content
        "Comments are closed for this article",
        "comments " * (MAX_FURNITURE_CHARS // 9 + 1),
    ],
)
def test_lines_with_words_of_labels_stay(line: str) -> None:
    assert not is_furniture(line)


@pytest.mark.parametrize(
    ("line", "teaser"),
    [
        ("Keep Reading", True),
        ("RELATED STORIES:", True),
        ("» Lire aussi", True),
        ("Mehr zum Thema", True),
        ("Continue reading", False),  # the rest of this page's text follows
        ("Read more", False),
        ("Related stories are listed below.", False),
    ],
)
def test_teaser_labels_are_the_labels_above_other_pages(line: str, teaser: bool) -> None:
    assert TEASER_LABELS <= FURNITURE
    assert is_teaser_label(line) is teaser
    assert is_furniture(line) is (teaser or line.endswith(("reading", "more")))


def test_drop_keeps_the_order_of_what_stays() -> None:
    assert drop_furniture(["One.", "Advertisement", "Two.", "Share", "Three."]) == [
        "One.",
        "Two.",
        "Three.",
    ]


def test_a_label_among_capitalized_terms_is_one_of_them() -> None:
    modes = ["The lock modes are:", "NO KEY UPDATE", "SHARE", "KEY SHARE", "Each blocks..."]
    assert drop_furniture(modes) == modes


@pytest.mark.parametrize(
    "lines",
    [
        ["MORE NEWS", "NEWSLETTER", "Sign up to learn more about our project."],
        ["FACEBOOK", "SHARE", "READ MORE"],  # a neighbour that is a label itself
        ["SHARE", "KEY SHARE"],  # nothing before it
        ["Dogs.", "SHARE", "Cats."],
        ["THE BIGGEST SIZES", "Share", "THE BIGGEST ART"],  # the label is not in capitals
        ["THE POWER TO TRANSFORM.", "SHARE", "KEY SHARE"],  # a sentence, not a term
        ["BY JANE DOE", "SHARE", "MARCH 3, 2024"],  # capitals, but no term holds the label
        [f"KEY SHARE {'X' * MAX_FURNITURE_CHARS}", "SHARE", "KEY SHARE"],  # too long for a term
    ],
)
def test_a_capitalized_label_beside_other_lines_goes(lines: list[str]) -> None:
    assert not {"SHARE", "Share", "NEWSLETTER"} & set(drop_furniture(lines))


def test_extracted_text_loses_the_labels_and_keeps_the_sentences() -> None:
    result = extract_page(PAGE, url="https://example.com/harbour", content_type="text/html")
    assert result.outcome == ExtractionOutcome.TEXT
    text = "\n".join(result.paragraphs)
    assert "Tuesday" in text
    assert "Share this article with a friend who fishes" in text
    for label in ("Advertisement", "Read more...", "12 Comments"):
        assert label not in result.paragraphs


def test_a_page_of_labels_only_is_empty() -> None:
    body = b"<html><body><article><p>Read more</p><p>Advertisement</p></article></body></html>"
    conversion = convert_page(
        body,
        status=200,
        headers=[(b"Content-Type", b"text/html; charset=utf-8")],
        url="https://example.com/labels",
        original_url="https://example.com/labels",
        fetched=date(2024, 5, 6),
    )
    assert conversion.outcome == TextOutcome.EMPTY
