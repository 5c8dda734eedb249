"""The visible headline: when the page's <h1> is its title rather than the SEO <title>.

Many pages write one headline for readers (the <h1> above the article) and
another for search engines and sharing (<title>, og:title): "The Adorable Reason
You Can Set Your Alert Sound to 'Hummus' on Slack" against "Why Does Slack Say
Hummus?". Corpus readers know the article by the first. The first <h1> (menus,
footers, logos linking home and inline-hidden ones left out, see
:class:`~crawler.extract.facts.PageFacts`) replaces the title found so far when
the page's other titles back it, so that a logo, a box heading or a slogan does
not; a home page keeps its title. In order:

- It is a meta title (JSON-LD headline, twitter:title...) once site names are
  cut: two of the page's titles agree, the odd one out is for search engines.
- It holds a whole title and more ("Tunisia New tasks for the new government"
  around "New tasks for the new government"): a kicker, date or label is glued
  to it, the title is kept.
- It is inside a title ("Best Hammocks of 2026" in "Best Hammocks of 2026,
  Tested & Reviewed") on an article (og:type, JSON-LD Article types), or the rest
  of that title is the site's name ("iFixit Essential Toolkit").
- On an article with a single <h1>, at least half of its words and two or more
  are in the page's titles: a rewording of the same story, unless it ends with a
  full stop (a slogan).

Each rule was found on the even-numbered pages of bench/extraction.py's sets and
confirmed on the odd ones (wcxb articles, trafilatura-eval, product, listing and
forum pages gain on both halves). Outside articles a rewording is not taken:
there the <h1> is a slogan or a category name as often as the page's name.
Readability's test pages lose a few titles: their expected titles are og:title.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from crawler.extract.facts import squash
from crawler.extract.sitename import is_site, is_site_part, strip_site_name

if TYPE_CHECKING:
    from crawler.extract.facts import PageFacts

#: An <h1> with at least this share of its words in the page's titles tells the same story,
MIN_SHARED_WORDS = 0.5
#: and with at least this many: one word in common ("Minecraft News") is a section's name.
MIN_SHARED_COUNT = 2
_WORD_RE = re.compile(r"\w+")
#: A heading that ends a sentence with a full stop is a slogan, not a rewording of the
#: title ("The world's #1 AI CRM powers the Agentic Enterprise."); "U.S.", "..." and a
#: short capitalised abbreviation ("Acme Inc.", "Martin Luther King Jr.") are not.
_SENTENCE_END_RE = re.compile(r"(?<![.\s])(?<!\b\w)(?<!\b[A-Z][a-z])(?<!\b[A-Z][a-z]{2})\.$")


def visible_headline(title: str, facts: PageFacts) -> str | None:
    """The page's <h1> when readers see it as the headline instead of ``title``, else None."""
    if facts.home or not facts.headings:
        return None
    heading = facts.headings[0]
    if is_site(heading, facts) or (facts.title_tag and is_site_part(heading, facts.title_tag)):
        return None
    titles = [title, *(strip_site_name(other, facts) for other in _other_titles(facts))]
    wanted = squash(heading)
    squashed = [squash(other) for other in titles]
    if not wanted or wanted == squashed[0]:
        return None
    if wanted in squashed:
        return heading  # a meta title says the same: the <title> is the search engines' one
    if any(other and other in wanted for other in squashed):
        return None  # a kicker, date or label glued to a title
    for other in squashed:
        if wanted in other:
            # Inside a title: on an article the rest is for search engines; anywhere, a
            # rest that is the site's name ("iFixit Essential Toolkit") is cut by the <h1>.
            rest = other.replace(wanted, "", 1)
            if facts.article or rest in facts.site_names or rest in facts.host_names:
                return heading
    if any(wanted in other for other in squashed):
        return None
    if (
        facts.heading_count == 1
        and facts.article
        and not _SENTENCE_END_RE.search(heading)
        and shared_words(heading, " ".join(titles)) >= MIN_SHARED_WORDS
        and len(_words(heading) & _words(" ".join(titles))) >= MIN_SHARED_COUNT
    ):
        return heading
    return None


def _other_titles(facts: PageFacts) -> list[str]:
    return [*facts.meta_titles, *([facts.title_tag] if facts.title_tag else [])]


def _words(text: str) -> set[str]:
    return set(_WORD_RE.findall(text.casefold()))


def shared_words(text: str, other: str) -> float:
    """The share of the words of ``text`` that ``other`` has too."""
    words = _WORD_RE.findall(text.casefold())
    others = set(_WORD_RE.findall(other.casefold()))
    return sum(word in others for word in words) / len(words) if words else 1.0
