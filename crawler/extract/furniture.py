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
a database manual, not a button) stays too: it is in capitals, and so are the
lines on both sides of it, short and no labels themselves.

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

#: Labels of a site's frame, casefolded, as a whole paragraph says them (with
#: :data:`DECORATION` around them). Words that are also ordinary headings of
#: content ("Search", "Contact", "Author", "Home") are not here.
FURNITURE = frozenset(
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
        "related",
        "related posts",
        "related articles",
        "related stories",
        "related content",
        "read more",
        "read next",
        "continue reading",
        "keep reading",
        "leave a comment",
        "leave a reply",
        "leave a review",
        "write a review",
        "post a comment",
        "add a comment",
        "no comments",
        "comments",
        "you might also like",
        "you may also like",
        "you might like",
        "recommended",
        "recommended for you",
        "more stories",
        "popular posts",
        "most popular",
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
        "mehr zum thema",
        "das könnte sie auch interessieren",
        "das könnte dich auch interessieren",
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
        "à lire aussi",
        "lire aussi",
        "lire la suite",
        "commentaires",
        "commentaire",
        # Spanish
        "compartir",
        "publicidad",
        "leer más",
        "comentarios",
        "te puede interesar",
        # Italian
        "condividi",
        "pubblicità",
        "leggi anche",
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
    if len(paragraph) > MAX_FURNITURE_CHARS or _SENTENCE_END_RE.search(paragraph):
        return False
    core = " ".join(_EDGES_RE.sub("", unicodedata.normalize("NFC", paragraph)).split())
    return core.casefold() in FURNITURE


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

    A label in capitals between two capitalized terms is one of the terms, and stays.
    """
    lines = list(paragraphs)
    return [
        line
        for index, line in enumerate(lines)
        if not is_furniture(line)
        or (
            0 < index < len(lines) - 1
            and line.isupper()
            and _is_term(lines[index - 1])
            and _is_term(lines[index + 1])
        )
    ]
