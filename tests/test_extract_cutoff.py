"""Main text that trafilatura cut off comes back when Resiliparse and Readability agree on it."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter

import pytest
import trafilatura
from trafilatura.utils import load_html

from crawler.extract import cutoff
from crawler.extract.cutoff import MAX_DEPTH, MAX_PAGE_CHARS, MIN_FOUND_WORDS, MIN_GROWTH
from crawler.extract.page import extract_page, extract_page_fast
from tests.conftest import shared_path

TOPICS = (
    "irrigation",
    "seed storage",
    "crop rotation",
    "harvest records",
    "soil testing",
    "grain prices",
    "river floods",
    "winter feed",
    "market days",
)
PARAGRAPHS = [
    f"The chapter on {topic} explains how the valley farmers planned their work over "
    f"{number + 3} seasons, which tools they shared, and what the elders wrote down "
    f"about every field they {('ploughed', 'sowed', 'watered')[number % 3]} that year."
    for number, topic in enumerate(TOPICS)
]
FOOTER = [
    f"Our newsletter number {number} brings you offers from partners, event dates and "
    "the latest products of the shop, every week, straight to your inbox for free."
    for number in range(12)
]
PAGE = (
    "<html><head><title>Valley farming</title></head><body>"
    "<nav><ul><li><a href='/'>Home</a></li><li><a href='/shop'>Shop</a></li></ul></nav>"
    "<main><article><h1>Valley farming</h1>"
    + "".join(f"<p>{paragraph}</p>" for paragraph in PARAGRAPHS)
    + "</article></main><footer>"
    + "".join(f"<p>{line}</p>" for line in FOOTER)
    + "</footer></body></html>"
)


def restore_cut_off(text: str, page: str) -> str:
    return cutoff.restore_cut_off(text, page, load_html(page))


def test_the_rest_of_a_cut_off_article_comes_back_in_order() -> None:
    cut = "\n".join(PARAGRAPHS[:3])
    restored = restore_cut_off(cut, PAGE).split("\n")
    assert restored == PARAGRAPHS


def test_a_gap_in_the_middle_is_filled_where_the_page_has_it() -> None:
    kept = PARAGRAPHS[:2] + PARAGRAPHS[7:]
    restored = restore_cut_off("\n".join(kept), PAGE).split("\n")
    assert restored == PARAGRAPHS


def test_a_whole_text_is_left_as_it_is() -> None:
    whole = "\n".join(PARAGRAPHS)
    assert restore_cut_off(whole, PAGE) == whole


def test_a_few_lines_more_are_not_added() -> None:
    # Both extractors have two paragraphs more, but not MIN_GROWTH times the words.
    nearly = "\n".join(PARAGRAPHS[:7])
    assert len(PARAGRAPHS) < MIN_GROWTH * 7
    assert restore_cut_off(nearly, PAGE) == nearly


def test_the_site_frame_is_never_added() -> None:
    # The footer is longer than the article, but neither extractor counts it as main text.
    whole = "\n".join(PARAGRAPHS)
    assert sum(map(len, FOOTER)) > len(whole)
    assert restore_cut_off(whole, PAGE) == whole
    restored = restore_cut_off(PARAGRAPHS[0], PAGE).split("\n")
    assert restored == PARAGRAPHS
    assert not any("newsletter" in line for line in restored)


def test_a_teaser_after_a_teaser_label_is_not_added() -> None:
    # An inset box in the article points to another page: a label, that page's headline
    # and summary. Both extractors keep it; the article goes on after it.
    teaser = (
        "<div class='callout'><div role='heading'>Keep Reading</div>"
        "<div role='heading'>The Valley Almanac</div>"
        "<div>Every chapter of the almanac, from seed storage to market days and more</div></div>"
    )
    page = PAGE.replace(f"<p>{PARAGRAPHS[5]}</p>", f"{teaser}<p>{PARAGRAPHS[5]}</p>")
    main = cutoff._lines(cutoff._main_content(page))
    assert "The Valley Almanac" in main
    assert any(line.startswith("Every chapter of the almanac") for line in main)
    assert "Every chapter of the almanac" in cutoff.readable_text(page)
    assert restore_cut_off(PARAGRAPHS[0], page).split("\n") == PARAGRAPHS
    # Where no teaser label stands above them, the same lines are the page's own.
    unlabelled = page.replace("Keep Reading", "")
    restored = restore_cut_off(PARAGRAPHS[0], unlabelled).split("\n")
    assert "The Valley Almanac" in restored
    assert restored[-1] == PARAGRAPHS[-1]


def test_both_extractors_must_agree() -> None:
    # Resiliparse keeps a readers' community box as main text, Readability does not:
    # the box, longer than the article, stays out.
    notes = "".join(
        f"<div class='community'><p>Reader {number} wrote that the {topic} chapter reminded "
        "them of their grandparents' farm, where the same work was done by hand.</p></div>"
        for number, topic in enumerate(TOPICS * 2)
    )
    page = PAGE.replace("</article>", f"</article><section class='community'>{notes}</section>")
    assert restore_cut_off(PARAGRAPHS[0], page).split("\n") == PARAGRAPHS
    whole = "\n".join(PARAGRAPHS)
    assert (
        cutoff._additions(
            [cutoff._key(line) for line in PARAGRAPHS],
            [(line, cutoff._key(line)) for line in cutoff._lines(cutoff._main_content(page))],
        )
        is not None
    )
    assert restore_cut_off(whole, page) == whole


def test_short_lines_of_ours_do_not_move_what_comes_back() -> None:
    # "5" and "Minutes" are found in a later paragraph ("5 minutes"): they stay where
    # trafilatura had them, and the paragraphs that come back go after them.
    byline = ["Reading time", "5", "Minutes"]
    paragraphs = [*PARAGRAPHS[:4], "Each of the chapters takes about 5 minutes to read aloud."]
    paragraphs += PARAGRAPHS[4:]
    page = PAGE.replace(
        "<h1>Valley farming</h1>",
        "<h1>Valley farming</h1>" + "".join(f"<span>{line}</span><br>" for line in byline),
    ).replace(f"<p>{PARAGRAPHS[4]}</p>", f"<p>{paragraphs[4]}</p><p>{PARAGRAPHS[4]}</p>")
    cut = [*byline, *PARAGRAPHS[:2]]
    restored = restore_cut_off("\n".join(cut), page).split("\n")
    assert restored == [*byline, *paragraphs]


def test_a_page_nested_too_deep_is_not_checked() -> None:
    cut = "\n".join(PARAGRAPHS[:3])

    def nested(depth: int) -> str:
        # Without the footer, which Readability takes for the main text of a page this deep.
        page = PAGE.split("<footer>")[0] + "</body></html>"
        return page.replace("<main>", "<div>" * depth + "<main>").replace(
            "</main>", "</main>" + "</div>" * depth
        )

    assert restore_cut_off(cut, nested(MAX_DEPTH - 20)) != cut
    assert restore_cut_off(cut, nested(MAX_DEPTH + 10)) == cut


def test_chinese_lines_without_spaces_come_back() -> None:
    lines = [
        f"第{number}章讲述了山谷里的农民如何安排{topic}的工作以及他们记录下来的每一块田地的情况。"
        for number, topic in enumerate(["灌溉", "种子", "轮作", "收成", "土壤", "粮价", "洪水"])
    ]
    page = (
        "<html><head><title>山谷农业</title></head><body><article><h1>山谷农业</h1>"
        + "".join(f"<p>{line}</p>" for line in lines)
        + "</article></body></html>"
    )
    # The four-character headline is a line of three words or more too.
    assert restore_cut_off("\n".join(lines[:2]), page).split("\n") == ["山谷农业", *lines]


def test_a_text_the_others_do_not_hold_is_left_alone() -> None:
    # Under MIN_COVERED of trafilatura's words in the agreed text: another part, not a cut.
    other = "\n".join(
        [*PARAGRAPHS[:1], "A caption that is nowhere on the page, with words of its own here."] * 2
    )
    assert restore_cut_off(other, PAGE) == other


def test_a_page_over_the_size_limit_is_not_checked() -> None:
    cut = "\n".join(PARAGRAPHS[:3])
    padded = PAGE.replace("</body>", f"<!-- {'x' * MAX_PAGE_CHARS} --></body>")
    assert restore_cut_off(cut, padded) == cut
    assert restore_cut_off(cut, PAGE) != cut


def test_an_empty_text_gets_the_text_both_agree_on() -> None:
    assert restore_cut_off("", PAGE).split("\n") == ["Valley farming", *PARAGRAPHS]


def test_an_empty_text_stays_empty_when_the_agreed_text_is_short() -> None:
    short = PAGE.replace("".join(f"<p>{p}</p>" for p in PARAGRAPHS[5:]), "")
    assert len(" ".join(PARAGRAPHS[:5]).split()) < MIN_FOUND_WORDS
    assert restore_cut_off("", short) == ""
    assert restore_cut_off("", "<html><body></body></html>") == ""


def test_a_page_without_main_text_keeps_the_text() -> None:
    text = "A line of trafilatura's text."
    assert restore_cut_off(text, "<html><body><p></p></body></html>") == text


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _recall(truth: str, text: str) -> float:
    expected = Counter(re.findall(r"\w+", truth.lower()))
    got = Counter(re.findall(r"\w+", text.lower()))
    return sum((expected & got).values()) / sum(expected.values())


#: wcxb pages where trafilatura keeps under two thirds of the article: a forum thread
#: (0564), a service page (2852), a blog post (4857).
CUT_OFF_PAGES = ("0564", "2852", "4857")


def _wcxb_page(page_id: str) -> tuple[dict[str, str], bytes]:
    listing = shared_path("pages", "wcxb", "pages.jsonl")
    rows = [json.loads(line) for line in listing.read_text("utf-8").split("\n") if line]
    page = next(row for row in rows if row["id"] == page_id)
    return page, gzip.decompress((listing.parent / page["html"]).read_bytes())


@pytest.mark.parametrize("page_id", CUT_OFF_PAGES)
def test_real_pages_get_the_rest_of_their_text(page_id: str) -> None:
    page, body = _wcxb_page(page_id)
    stock = trafilatura.extract(body, url=page["url"], include_comments=False) or ""
    ours = "\n".join(extract_page(body, url=page["url"], content_type=None).paragraphs)
    fast = "\n".join(extract_page_fast(body, url=page["url"], content_type=None).paragraphs)
    assert _recall(page["text"], stock) < 0.67
    assert _recall(page["text"], fast) < 0.67  # the same cut as stock's: no check
    assert _recall(page["text"], ours) > 0.85
    # What trafilatura kept stays, in its order (compared as words: the corpus text is
    # normalized).
    kept = [_words(line) for line in stock.split("\n") if len(line) > 80][:5]
    positions = [_words(ours).find(words) for words in kept]
    assert -1 not in positions
    assert positions == sorted(positions)


def test_a_real_article_trafilatura_finds_nothing_in_gets_its_text() -> None:
    page, body = _wcxb_page("4111")  # a list article, 1,900 words
    assert trafilatura.extract(body, url=page["url"], include_comments=False) is None
    assert extract_page_fast(body, url=page["url"], content_type=None).outcome == "empty"
    ours = "\n".join(extract_page(body, url=page["url"], content_type=None).paragraphs)
    assert _recall(page["text"], ours) > 0.95
    assert _recall(ours, page["text"]) > 0.95  # and little else
