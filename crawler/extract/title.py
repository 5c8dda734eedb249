"""The page's title: the headline its readers see, checked against the page's other titles.

trafilatura takes a meta title (og:title, JSON-LD headline...) when the page has
one, else a lone ``<h1>``, else a part of ``<title>``, and keeps the site name
that pages put around their headline. The touch-ups, in order:

- A pick that no meta title backs is replaced by ``<title>`` when it is the
  site's name (a logo in an ``<h1>``), the site part of ``<title>``, or shares
  under half of its words with ``<title>`` (a box heading such as "Additional
  information", a cookie banner). A meta title that is only the site's name
  gives way to another candidate.
- Site and section names are cut off (:mod:`crawler.extract.sitename`); a home
  page keeps them: there the site's name is the title.
- The page's ``<h1>`` replaces the title when the page's titles back it
  (:mod:`crawler.extract.headline`).
- Else, when an ``<h1>`` equals the leading part of the title, or the part after a
  label and a colon ("Climate: Drilling until it gets hot"), the title is cut to
  that part.
- A page with no title at all gets a headline from its body: an element marked
  as one (``itemprop="headline"``, ``class="entry-title"``...), else its first
  ``<h2>`` or ``<h3>`` outside menus.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crawler.extract.facts import squash
from crawler.extract.headline import shared_words, visible_headline
from crawler.extract.sitename import (
    SITE_SEPARATOR_RE,
    edge_stripped,
    is_site,
    is_site_part,
    joined,
    strip_site_name,
)

if TYPE_CHECKING:
    from crawler.extract.facts import PageFacts

__all__ = ["best_title", "strip_site_name"]

# The site separators, plus a colon right after a word: the end of a label ("Climate: ...").
_PART_SEPARATOR_RE = re.compile(rf"{SITE_SEPARATOR_RE.pattern}|(?<=\w):\s+")
#: A lone <h1> sharing fewer of its words with <title> than this is not the headline.
MIN_SHARED_WORDS = 0.5


def best_title(found: str | None, facts: PageFacts) -> str | None:
    """The headline of the page, from trafilatura's ``found`` title and the page's ``facts``."""
    title = _checked_source(found, facts)
    if not title:
        return facts.body_headline
    if not facts.home:
        title = strip_site_name(title, facts)
    headline = visible_headline(title, facts) or _headline_part(title, facts)
    return headline or None


def _checked_source(found: str | None, facts: PageFacts) -> str | None:
    tag = facts.title_tag
    if not found:
        return tag
    if squash(found) not in {squash(title) for title in facts.meta_titles}:
        if tag and not is_site(tag, facts) and _is_not_headline(found, tag, facts):
            return tag
    elif is_site(found, facts):
        for other in (*facts.meta_titles, tag):
            if other and not is_site(other, facts):
                return other
    return found


def _headline_part(title: str, facts: PageFacts) -> str:
    """The part of ``title`` that an <h1> repeats, if it is a leading part or follows a label."""
    parts = _PART_SEPARATOR_RE.split(title)
    separators = _PART_SEPARATOR_RE.findall(title)
    if len(parts) < 2:
        return title
    candidates: dict[str, str] = {}
    for end in range(1, len(parts)):
        head = joined(parts, separators, 0, end)
        candidates.setdefault(squash(head), head)
    # After a colon only: after " - " or " | " the last part is a site or section name.
    if separators[0].strip() == ":":
        tail = joined(parts, separators, 1, len(parts))
        candidates.setdefault(squash(tail), tail)
    candidates.pop("", None)
    for heading in facts.headings:
        part = candidates.get(squash(heading))
        if part and not is_site(heading, facts):
            return edge_stripped(part)
    return title


def _is_not_headline(text: str, tag: str, facts: PageFacts) -> bool:
    """Whether ``text``, found in the page body, is rather a logo or a box heading."""
    # An <h1> that repeats the last part of <title> is mostly a logo ("Headline |
    # Site"), but may be the headline ("Site | Headline"): <title> is taken whole,
    # and strip_site_name cuts whichever part the page names as its site.
    return (
        is_site(text, facts)
        or is_site_part(text, tag)
        or shared_words(text, tag) < MIN_SHARED_WORDS
    )
