"""Main text that trafilatura cut off, put back when two other extractors agree on it.

trafilatura sometimes keeps only a part of a page's main text: the first half of
an article whose second half sits in a sibling container, the first post of a
thread, the hero section of a service page. Two extractors built on other ideas
see the whole of such pages: Resiliparse's main-content rules, which drop the
page's frame by its markup, and Readability (readability-lxml), which scores
containers by their text. When both agree on a text that holds nearly all of
trafilatura's (:data:`MIN_COVERED` of its words) and is much longer
(:data:`MIN_GROWTH` times its words), and the agreed lines that trafilatura lacks
make its text as much longer, those lines are added, each where the page has it.
Nothing of trafilatura's text is dropped or moved, and a page where they do not
agree keeps trafilatura's text as it is. A page where trafilatura finds no main
text at all gets the lines both agree on, when they hold at least
:data:`MIN_FOUND_WORDS` words (fewer is a cookie notice, a login prompt, an error
message). Lines that a teaser label introduces ("Keep reading", "Related stories":
:data:`~crawler.extract.furniture.TEASER_LABELS`) are never added: a headline and
summary of another page, up to the first line that ends a sentence.

Limits: a line is added only whole and once (two identical replies of a thread
come back as one), never when it holds a line of trafilatura's (that text would
be there twice); pages over :data:`MAX_PAGE_CHARS` characters or nested deeper
than :data:`MAX_DEPTH` elements are not checked. Words are ``\\w+`` runs, and
each Chinese or Japanese character counts as one.

Measured with bench/extraction.py on ../shared/pages (see the README's
extraction table): the rule fires on about one page in 75, nearly always where
trafilatura kept under two thirds of the main text, and on one of the 19 pages
where it found none (an article of 1,900 words, body F1 0 -> 0.99; the other 18
have no text for either extractor). Resiliparse runs on every
page (about 2 ms); Readability (about 17 ms) only on the one page in ten where
Resiliparse's text passes the three tests, since without it nothing is added.
trafilatura's own port of Readability, which it runs anyway, agreed on too
little to be used here: body F1 gained a third as much. The teaser labels change
one page: a teaser's summary in an inset box of a wired.com article
(trafilatura-eval), which came back with the rest of the article, stays out.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING

from lxml.etree import XPath
from lxml.html import fromstring
from readability import Document
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from crawler.extract.furniture import is_teaser_label

if TYPE_CHECKING:
    from collections.abc import Iterable

    from lxml.html import HtmlElement

logger = logging.getLogger(__name__)
# Readability logs a traceback for every page it cannot read; such a page keeps
# trafilatura's text, which is no error of the crawl.
logging.getLogger("readability").setLevel(logging.CRITICAL)

#: The share of trafilatura's words that the agreed text must hold: the agreed
#: text is the whole of which trafilatura kept a part, not another part.
MIN_COVERED = 0.8
#: How many times trafilatura's words the agreed text must have, and the text with
#: the lines added too: a few lines more are as often a caption, a byline or a
#: teaser as the article's own.
MIN_GROWTH = 1.5
#: An agreed line with fewer words is not added (a button, a label, "Step 1"); a
#: line of ours with fewer words keeps the place of the one before it.
MIN_ADDED_WORDS = 3
#: A page without trafilatura text gets the agreed lines when they have this many words:
#: trafilatura's own least (250 characters) is a paragraph, and a paragraph or two that
#: two extractors agree on is as often a notice as an article.
MIN_FOUND_WORDS = 200
#: A longer page (in characters, as decoded) keeps trafilatura's text unchecked:
#: both extractors parse it again, and memory grows with it (at 64 MB of HTML,
#: several hundred megabytes). The rule fired on no shared page over 1.3 MB; 22 of
#: 2,708 are longer than this.
MAX_PAGE_CHARS = 2_000_000
#: A page nested deeper keeps trafilatura's text unchecked: Resiliparse's
#: main-content rules take time that grows with the square of the depth (seconds
#: at a few thousand levels), and lxml, which Readability reads with, stops at 255.
MAX_DEPTH = 200

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
#: A line that ends a sentence: a full stop, question or exclamation mark, ellipsis or
#: colon, maybe closed by quotes or a bracket.
_SENTENCE_END_RE = re.compile(r"[.!?\u2026:][\"'\u2019\u201d\u00bb)]*\s*$")
_TOO_DEEP = XPath("boolean(" + "/*" * (MAX_DEPTH + 1) + ")")


def _key(text: str) -> str:
    """``text`` as lowercase words between single spaces, for finding it in another text."""
    return " ".join(_WORD_RE.findall(unicodedata.normalize("NFC", text).casefold()))


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def _words(key: str) -> int:
    return key.count(" ") + 1 if key else 0


def _word_count(keys: Iterable[str]) -> int:
    return sum(map(_words, keys))


def _covered(keys: list[str], others: list[str]) -> float:
    """The share of the words of ``keys`` that ``others`` have too, each as often.

    Counted as words, not lines: extractors join inline elements differently
    ("on June 9 2024, 3:29 amAs for..." against "... am As for...").
    """
    ours = Counter(word for key in keys for word in key.split())
    total = ours.total()
    if not total:
        return 0.0
    return (ours & Counter(word for key in others for word in key.split())).total() / total


def restore_cut_off(text: str, html: str, tree: HtmlElement) -> str:
    """trafilatura's ``text`` with the lines it cut off, when the other extractors agree on them
    (all of their agreed lines when ``text`` is empty).

    ``html`` is the decoded page and ``tree`` its parsed tree; neither is changed.
    """
    ours = _lines(text)
    if len(html) > MAX_PAGE_CHARS or _TOO_DEEP(tree):
        return text
    our_keys = [_key(line) for line in ours]
    try:
        main = _without_teasers([(line, _key(line)) for line in _lines(_main_content(html))])
        # Readability costs ten times Resiliparse: only where Resiliparse alone passes.
        if not _may_change(our_keys, main):
            return text
        readable = f" {_key(readable_text(html))} "
    except Exception:  # a third-party parser on a broken page: keep trafilatura's text
        logger.debug("cut-off check failed", exc_info=True)
        return text
    agreed = [(line, key) for line, key in main if key and f" {key} " in readable]
    if not ours:  # nothing to add to: the agreed text is the page's
        return "\n".join(line for line, _ in agreed) if _may_change([], agreed) else text
    added = _additions(our_keys, agreed)
    if added is None:
        return text
    return "\n".join(_merged(ours, our_keys, agreed, added))


def _without_teasers(lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``lines`` without those that a teaser label introduces ("Keep reading", "Related":
    :data:`~crawler.extract.furniture.TEASER_LABELS`): from the label on, the lines that end
    no sentence (a headline, a summary) are another page's; the first that does is this
    page's again."""
    kept = []
    teasers = False
    for line, key in lines:
        if is_teaser_label(line):
            teasers = True
        elif teasers and not _SENTENCE_END_RE.search(line):
            continue
        else:
            teasers = False
        kept.append((line, key))
    return kept


def _may_change(our_keys: list[str], other: list[tuple[str, str]]) -> bool:
    """Whether ``other`` holds lines to add to ours or, when we have none, a text of its own."""
    if not our_keys:
        return _word_count(key for _line, key in other) >= MIN_FOUND_WORDS
    return _additions(our_keys, other) is not None


def _additions(
    our_keys: list[str], other: list[tuple[str, str]]
) -> list[tuple[int, str, str]] | None:
    """The lines of ``other`` to add to ours (see :func:`_missing`), or None when ``other``
    does not hold nearly all of our words, many more, and lines we lack with them."""
    ours = _word_count(our_keys)
    if _word_count(key for _line, key in other) < MIN_GROWTH * ours:
        return None
    if _covered(our_keys, [key for _line, key in other]) < MIN_COVERED:
        return None
    # The lines that hold one of ours are sought last: that costs a test per pair of lines.
    for whole in (False, True):
        missing = _missing(our_keys, other, whole=whole)
        if _word_count(key for _index, _line, key in missing) < (MIN_GROWTH - 1) * ours:
            return None
    return missing


def _missing(
    our_keys: list[str], other: list[tuple[str, str]], *, whole: bool = True
) -> list[tuple[int, str, str]]:
    """The lines of ``other`` that we lack, to add, each once, with their index in ``other``.

    A line is left out when it is short, when we have it, or (``whole``) when it holds
    one of our lines (added, that line's text would be there twice).
    """
    our_text = f" {' '.join(our_keys)} "
    long_keys = [f" {key} " for key in our_keys if _words(key) >= MIN_ADDED_WORDS]
    seen: set[str] = set()
    missing = []
    for index, (line, key) in enumerate(other):
        if _words(key) < MIN_ADDED_WORDS or key in seen or f" {key} " in our_text:
            continue
        seen.add(key)
        padded = f" {key} "
        if whole and any(ours in padded for ours in long_keys):
            continue
        missing.append((index, line, key))
    return missing


def _merged(
    ours: list[str],
    our_keys: list[str],
    agreed: list[tuple[str, str]],
    added: list[tuple[int, str, str]],
) -> list[str]:
    """Our lines in their order, with the ``added`` lines of ``agreed`` each put where the
    page has it.

    A line of ours takes the place of the first agreed line, from the place of the one
    before it on, that is it or holds it whole; a short line ("5", "Minutes") or one
    that no agreed line holds keeps the place of the one before it.
    """
    padded = [f" {key} " for _line, key in agreed]
    places: list[tuple[int, int, str]] = []
    place = 0
    for index, (line, key) in enumerate(zip(ours, our_keys, strict=True)):
        if _words(key) >= MIN_ADDED_WORDS:
            wanted = f" {key} "
            place = next((at for at in range(place, len(padded)) if wanted in padded[at]), place)
        places.append((place, index, line))
    for index, line, _key_unused in added:
        # After our lines of the same place: what the page has before the added line.
        places.append((index, len(ours) + index, line))
    return [line for _place, _index, line in sorted(places)]


def _main_content(html: str) -> str:
    return extract_plain_text(
        HTMLTree.parse(html),
        main_content=True,
        alt_texts=False,
        list_bullets=False,
        form_fields=False,
        noscript=False,
        post_meta=False,
        # A comment section is no part of a cut-off text, and Readability would drop it.
        comments=False,
    )


def readable_text(html: str) -> str:
    """The text of Readability's summary of ``html``, its pieces between single spaces."""
    summary = Document(html).summary(html_partial=True)
    return " ".join(fromstring(summary).itertext())
