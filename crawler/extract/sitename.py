"""Site and section names around a headline: "Headline | Section | Site", "标题_栏目_网站".

Pages join their headline with the names of the site and of the section it is
filed under, in either order and with many separators. A part is cut when the
page itself names it so: the site as og:site_name, JSON-LD publisher or its host
name says, a section as a link in its menus or breadcrumbs, or a folder of its
URL ("npr.org/sections/thetwo-way/..." files "... : The Two-Way : NPR"). Parts
that only look like names (short, at the end) stay: a headline's last words
after a dash are often its own.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crawler.extract.facts import squash

if TYPE_CHECKING:
    from crawler.extract.facts import PageFacts

# Separators with spaces around them: a bare hyphen or colon belongs to the headline.
SITE_SEPARATOR_RE = re.compile(r"\s+(?:\||--|-|\u2013|\u2014|·|•|::|:|»|«|/|~)\s+")
# Separators without spaces, as Chinese and Japanese titles join parts ("标题_网站",
# "見出し\uff5c会社"); only a part that the page names as its site or section is cut there.
_TIGHT_SEPARATOR_RE = re.compile(
    r"\s*(?:[_|\uff5c\u2502\uff3f]|(?<=\S)[-\u2013\u2014\uff0d](?=\S))\s*"
)
# A site name in brackets at the end: "Headline (Example News)", also full-width ones.
_BRACKETED_RE = re.compile(
    r"^(.+?)\s*[(\[\uff08\u3010]([^()\[\]\uff08\uff09\u3010\u3011]+)[)\]\uff09\u3011]$"
)
# Separator characters left at either end once parts are cut; guillemets only when
# they stand apart, since »quoted« headlines keep theirs.
EDGE_RE = re.compile(
    r"^(?:[\s|·•:/~\u2013\u2014-]|[«»](?=\s))+|(?:[\s|·•:/~\u2013\u2014-]|(?<=\s)[«»])+$"
)
#: A site name written out in the title ("Recipe from Example.com") is this short.
MAX_SITE_WORDS = 4


def strip_site_name(title: str, facts: PageFacts) -> str:
    """``title`` without the site and section names that its first or last parts are."""
    site_cut = False
    label, colon, rest = title.partition(": ")
    if colon and rest and is_site(label, facts):  # "Example.com: Headline"
        title, site_cut = rest, True
    parts = SITE_SEPARATOR_RE.split(title)
    separators = SITE_SEPARATOR_RE.findall(title)
    tight = len(parts) == 1
    if tight:
        parts = _TIGHT_SEPARATOR_RE.split(title)
        separators = _TIGHT_SEPARATOR_RE.findall(title)
    while len(parts) > 1:
        # A spelled-out site name ("Recipe from Example.com") ends titles; at the start,
        # a brand in a product name ("Example Phone 2") would be taken for one. Without
        # spaces ("Strava-Karten"), only a name the page declares is cut.
        if is_site(parts[-1], facts, loose=not tight, declared=tight):
            parts.pop()
            separators.pop()
        elif is_site(parts[0], facts, declared=tight):
            parts.pop(0)
            separators.pop(0)
        else:
            break
        site_cut = True
    _cut_sections(parts, separators, facts, site_cut=site_cut)
    stripped = edge_stripped(joined(parts, separators, 0, len(parts)))
    return _without_bracketed_site(stripped, facts) or title


def _cut_sections(
    parts: list[str], separators: list[str], facts: PageFacts, *, site_cut: bool
) -> None:
    """Cut section names before the site's ("Headline : The Two-Way : NPR")."""
    # Only where a site name was cut too, and at the end: "Opinion | Headline" may be
    # a headline with a label, and "Wedding Tools - Caterer Spreadsheet" one in two parts.
    while site_cut and len(parts) > 1:
        longest = max(len(part) for part in parts)
        if len(parts[-1]) < longest and _is_section(parts[-1], facts):
            parts.pop()
            separators.pop()
        else:
            return


def _is_section(text: str, facts: PageFacts) -> bool:
    name = squash(text)
    return bool(name) and name in facts.section_names


def _without_bracketed_site(title: str, facts: PageFacts) -> str:
    match = _BRACKETED_RE.match(title)
    if match and is_site(match.group(2), facts, loose=True):
        return match.group(1)
    return title


def edge_stripped(text: str) -> str:
    return EDGE_RE.sub("", text)


def joined(parts: list[str], separators: list[str], start: int, end: int) -> str:
    """``parts[start:end]`` with the separators that stood between them."""
    return parts[start] + "".join(separators[i - 1] + parts[i] for i in range(start + 1, end))


def is_site(text: str, facts: PageFacts, *, loose: bool = False, declared: bool = False) -> bool:
    """Whether ``text`` names the site.

    ``loose`` also takes names that spell out the host; ``declared`` only names the
    page declares, not its host ("GdP-Vize" on gdp.de is a word, not a site name).
    """
    name = squash(text)
    if not name:
        return False
    if name in facts.site_names or (not declared and name in facts.host_names):
        return True
    return (
        loose
        and len(text.split()) <= MAX_SITE_WORDS
        and any(
            len(host) >= 4 and (name.startswith(host) or name.endswith(host))
            for host in facts.host_names
        )
    )


def is_site_part(text: str, tag: str) -> bool:
    """Whether ``text`` is the last part of ``tag``, where sites put their name."""
    parts = SITE_SEPARATOR_RE.split(tag)
    return len(parts) > 1 and squash(parts[-1]) == squash(text) != squash(parts[0])
