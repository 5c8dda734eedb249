"""Page furniture: the lines of a site's frame that slip into a page's main text.

An extractor keeps the block around an article, and with it the odd label of
the frame: "Read more", "Share this article", "Loading...", "Advertisement",
"Mehr zum Thema", "Back to top". Such a line says nothing of the page and
would be indexed and searched as if it did. :func:`drop_furniture` removes a
paragraph only when it is one of these labels and nothing else, so that a
sentence that merely contains the words ("Share this article with a friend who
cooks") stays. The labels are the ones sites use in English, German, French,
Spanish and Italian; a line in another language stays as it is. A label in a
run of capitalized terms ("NO KEY UPDATE", "SHARE", "KEY SHARE": a lock mode in
a database manual, not a button) stays too: it is in capitals, so are the lines
on both sides of it, short and no labels themselves, and one of them holds it as
a word.

Measured with bench/extraction.py on ../shared/pages: fewer unwanted snippets
on wcxb (articles 0.050 -> 0.047, listings 0.080 -> 0.072), body F1 and
snippets found unchanged on every set; under 0.1 ms a page. The run of capitals
keeps "SHARE" in PostgreSQL's manual (two wcxb documentation pages) and changes
no other page.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

#: The frame labels that introduce teasers of other pages ("Keep reading" above a
#: headline and its summary), in English, German, French, Spanish and Italian; not those
#: before the rest of the page's own text ("Continue reading", "Read more").
TEASER_LABELS = frozenset(
    {
        "related",
        "related posts",
        "related articles",
        "related stories",
        "related content",
        "read next",
        "keep reading",
        "you might also like",
        "you may also like",
        "you might like",
        "recommended",
        "recommended for you",
        "more stories",
        "popular posts",
        "most popular",
        "mehr zum thema",
        "das könnte sie auch interessieren",
        "das könnte dich auch interessieren",
        "à lire aussi",
        "lire aussi",
        "te puede interesar",
        "leggi anche",
    }
)
#: Labels of a site's frame, casefolded, as a whole paragraph says them (with
#: :data:`DECORATION` around them). Words that are also ordinary headings of
#: content ("Search", "Contact", "Author", "Home") are not here. The teaser labels are
#: among them.
FURNITURE = TEASER_LABELS | frozenset(
    {
        # English
        "share",
        "share this",
        "share this article",
        "share this post",
        "share this story",
        "share this page",
        "share on facebook",
        "share on twitter",
        "share on linkedin",
        "tweet",
        "pin it",
        "print this page",
        "print this article",
        "advertisement",
        "advertisements",
        "sponsored",
        "read more",
        "continue reading",
        "leave a comment",
        "leave a reply",
        "leave a review",
        "write a review",
        "post a comment",
        "add a comment",
        "no comments",
        "comments",
        "subscribe",
        "subscribe now",
        "sign up",
        "sign in",
        "log in",
        "login",
        "sign up for our newsletter",
        "newsletter",
        "newsletters",
        "follow us",
        "follow us on",
        "back to top",
        "skip to content",
        "skip to main content",
        "loading",
        "click here",
        "privacy policy",
        "cookie policy",
        "cookie settings",
        "terms of use",
        "terms of service",
        "terms and conditions",
        "all rights reserved",
        "previous post",
        "next post",
        "previous article",
        "next article",
        "about the author",
        # German
        "teilen",
        "artikel teilen",
        "drucken",
        "anzeige",
        "werbung",
        "weiterlesen",
        "mehr lesen",
        "keine kommentare",
        "kommentare",
        "kommentar schreiben",
        "nach oben",
        "impressum",
        "datenschutz",
        "datenschutzerklärung",
        # French
        "partager",
        "imprimer",
        "publicité",
        "lire la suite",
        "commentaires",
        "commentaire",
        # Spanish
        "compartir",
        "publicidad",
        "leer más",
        "comentarios",
        # Italian
        "condividi",
        "pubblicità",
        "commenti",
    }
)
#: What may stand around a label: list marks, counts ("12 Comments", "Comments
#: (3)"), colons, ellipses, arrows. Quotes, braces, slashes and "#" are not
#: decoration, so a line of code, a path or a Markdown heading is never taken
#: for a label; nor is a line that ends a sentence with one full stop.
DECORATION = r"[\s\d\-\u2013\u2014\u2022\u00b7|:.\u2026\u00bb\u00ab\u203a\u2039\u2192<>()\[\]+*!?]"
#: Longer paragraphs are never furniture: the longest label above is shorter.
MAX_FURNITURE_CHARS = 60

_EDGES_RE = re.compile(rf"^{DECORATION}+|{DECORATION}+$")
_SENTENCE_END_RE = re.compile(r"(?<![.\s])\.\s*$")


def is_furniture(paragraph: str) -> bool:
    """Whether ``paragraph`` is a frame label and nothing else."""
    return _label(paragraph) in FURNITURE


def is_teaser_label(paragraph: str) -> bool:
    """Whether ``paragraph`` is a label that introduces teasers of other pages and nothing else."""
    return _label(paragraph) in TEASER_LABELS


def _label(paragraph: str) -> str | None:
    """``paragraph`` casefolded without :data:`DECORATION` around it, when it may be a label."""
    if len(paragraph) > MAX_FURNITURE_CHARS or _SENTENCE_END_RE.search(paragraph):
        return None
    return " ".join(_EDGES_RE.sub("", unicodedata.normalize("NFC", paragraph)).split()).casefold()


def _is_term(paragraph: str) -> bool:
    """Whether ``paragraph`` is a short term in capitals ("NO KEY UPDATE"), no sentence and
    no label."""
    return (
        len(paragraph) <= MAX_FURNITURE_CHARS
        and not _SENTENCE_END_RE.search(paragraph)
        and paragraph.isupper()
        and not is_furniture(paragraph)
    )


def drop_furniture(paragraphs: Iterable[str]) -> list[str]:
    """``paragraphs`` without the ones that are frame labels, in their order.

    A label that is one of a run of capitalized terms stays (see :func:`_is_one_of_terms`).
    """
    lines = list(paragraphs)
    return [
        line
        for index, line in enumerate(lines)
        if not is_furniture(line) or _is_one_of_terms(lines, index)
    ]


def _is_one_of_terms(lines: list[str], index: int) -> bool:
    """Whether the label ``lines[index]`` is in capitals between two capitalized terms, one of
    which holds it as a word ("NO KEY UPDATE", "SHARE", "KEY SHARE")."""
    if not 0 < index < len(lines) - 1 or not lines[index].isupper():
        return False
    neighbours = (lines[index - 1], lines[index + 1])
    word = f" {lines[index].strip()} "
    return all(map(_is_term, neighbours)) and any(word in f" {line} " for line in neighbours)
