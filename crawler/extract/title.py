"""The page's title: trafilatura's pick, checked against the page's other titles.

trafilatura takes a meta title (og:title, JSON-LD headline...) when the page has
one, else a lone ``<h1>``, else a part of ``<title>``, and keeps the site name
that pages put around their headline. Four touch-ups, which together gain on
every set and page type of bench/extraction.py (by 1 to 19 points of lenient
title matches) without a loss on any:

- A pick that no meta title backs is replaced by ``<title>`` when it is the
  site's name (a logo in an ``<h1>``), the site part of ``<title>``, or shares
  under half of its words with ``<title>`` (a box heading such as "Additional
  information", a cookie banner).
- A meta title that is only the site's name gives way to another candidate.
- The site name is cut off at a separator ("Headline | Site", "Site: Headline")
  when the page names its site that way (og:site_name, JSON-LD publisher...) or
  the part is the host name. A home page keeps it: there it is the title.
- When an ``<h1>`` equals the leading part of the title, or the part after a
  label and a colon ("Climate: Drilling until it gets hot"), the title is cut to
  that part: the visible headline is what readers call the article's title.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crawler.extract.facts import squash

if TYPE_CHECKING:
    from crawler.extract.facts import PageFacts

# Separators with spaces around them: a bare hyphen or colon belongs to the headline.
_SITE_SEPARATOR_RE = re.compile(r"\s+(?:\||--|-|\u2013|\u2014|·|•|::|:|»|«|/|~)\s+")
# The same, plus a colon right after a word: the end of a label ("Climate: ...").
_PART_SEPARATOR_RE = re.compile(rf"{_SITE_SEPARATOR_RE.pattern}|(?<=\w):\s+")
_EDGE_CHARS = " |-\u2013\u2014·•:»«/~"
#: A lone <h1> sharing fewer of its words with <title> than this is not the headline.
MIN_SHARED_WORDS = 0.5
#: A site name written out in the title ("Recipe from Example.com") is this short.
MAX_SITE_WORDS = 4
_WORD_RE = re.compile(r"\w+")


def best_title(found: str | None, facts: PageFacts) -> str | None:
    """The headline of the page, from trafilatura's ``found`` title and the page's ``facts``."""
    title = _checked_source(found, facts)
    if not title:
        return None
    if not facts.home:
        title = strip_site_name(title, facts)
    return _headline_part(title, facts) or None


def _checked_source(found: str | None, facts: PageFacts) -> str | None:
    tag = facts.title_tag
    if not found:
        return tag
    if squash(found) not in {squash(title) for title in facts.meta_titles}:
        if tag and not _is_site(tag, facts) and _is_not_headline(found, tag, facts):
            return tag
    elif _is_site(found, facts):
        for other in (*facts.meta_titles, tag):
            if other and not _is_site(other, facts):
                return other
    return found


def strip_site_name(title: str, facts: PageFacts) -> str:
    """``title`` without the site names that its first or last parts are."""
    parts = _SITE_SEPARATOR_RE.split(title)
    separators = _SITE_SEPARATOR_RE.findall(title)
    while len(parts) > 1:
        # A spelled-out site name ("Recipe from Example.com") ends titles; at the start,
        # a brand in a product name ("Example Phone 2") would be taken for one.
        if _is_site(parts[-1], facts, loose=True):
            parts.pop()
            separators.pop()
        elif _is_site(parts[0], facts):
            parts.pop(0)
            separators.pop(0)
        else:
            break
    return _joined(parts, separators, 0, len(parts)).strip(_EDGE_CHARS) or title


def _headline_part(title: str, facts: PageFacts) -> str:
    """The part of ``title`` that an <h1> repeats, if it is a leading part or follows a label."""
    parts = _PART_SEPARATOR_RE.split(title)
    separators = _PART_SEPARATOR_RE.findall(title)
    if len(parts) < 2:
        return title
    candidates: dict[str, str] = {}
    for end in range(1, len(parts)):
        head = _joined(parts, separators, 0, end)
        candidates.setdefault(squash(head), head)
    # After a colon only: after " - " or " | " the last part is a site or section name.
    if separators[0].strip() == ":":
        tail = _joined(parts, separators, 1, len(parts))
        candidates.setdefault(squash(tail), tail)
    candidates.pop("", None)
    for heading in facts.headings:
        part = candidates.get(squash(heading))
        if part and not _is_site(heading, facts):
            return part.strip(_EDGE_CHARS)
    return title


def _joined(parts: list[str], separators: list[str], start: int, end: int) -> str:
    """``parts[start:end]`` with the separators that stood between them."""
    return parts[start] + "".join(separators[i - 1] + parts[i] for i in range(start + 1, end))


def _is_site(text: str, facts: PageFacts, *, loose: bool = False) -> bool:
    """Whether ``text`` names the site; ``loose`` also takes names that spell out the host."""
    name = squash(text)
    if not name:
        return False
    if name in facts.site_names or name in facts.host_names:
        return True
    return (
        loose
        and len(text.split()) <= MAX_SITE_WORDS
        and any(
            len(host) >= 4 and (name.startswith(host) or name.endswith(host))
            for host in facts.host_names
        )
    )


def _is_not_headline(text: str, tag: str, facts: PageFacts) -> bool:
    """Whether ``text``, found in the page body, is rather a logo or a box heading."""
    # An <h1> that repeats the last part of <title> is mostly a logo ("Headline |
    # Site"), but may be the headline ("Site | Headline"): <title> is taken whole,
    # and strip_site_name cuts whichever part the page names as its site.
    return (
        _is_site(text, facts) or _is_site_part(text, tag) or _shared(text, tag) < MIN_SHARED_WORDS
    )


def _is_site_part(text: str, tag: str) -> bool:
    """Whether ``text`` is the last part of ``tag``, where sites put their name."""
    parts = _SITE_SEPARATOR_RE.split(tag)
    return len(parts) > 1 and squash(parts[-1]) == squash(text) != squash(parts[0])


def _shared(text: str, other: str) -> float:
    words = _WORD_RE.findall(text.casefold())
    others = set(_WORD_RE.findall(other.casefold()))
    return sum(word in others for word in words) / len(words) if words else 1.0
