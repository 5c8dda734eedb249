"""What a page says about itself: its titles, headings, site names and dates, read once.

trafilatura reads the same tags but keeps only its final pick; the touch-ups in
:mod:`crawler.extract.title` need the other candidates too, to check that pick.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from crawler.extract.metadata import parse_date

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import date

    from lxml.html import HtmlElement

_NON_WORD_RE = re.compile(r"[\W_]+")
#: Meta names whose content is the page's own title (trafilatura reads the same ones).
TITLE_METAS = frozenset({
    "og:title", "twitter:title", "title", "headline", "dc.title", "dcterms.title",
    "citation_title", "parsely-title", "sailthru.title", "fb_title",
})  # fmt: skip
#: Meta names whose content names the site or its publisher.
SITE_METAS = frozenset({
    "og:site_name", "application-name", "apple-mobile-web-app-title", "twitter:site",
    "publisher", "copyright",
})  # fmt: skip
#: Meta names that hold the page's own dates (article:published_time, og:updated_time,
#: itemprop datePublished, dc.date.issued, "date", "sailthru.date"), not an event's or a
#: person's ("startDate", "birthDate").
_DATE_META_RE = re.compile(r"publish|modif|updated|created|issued|(?:^|[:._-])(?:pub)?date$")
#: JSON-LD keys with the page's dates, read on items of :data:`DATED_TYPES` only (not on
#: the comments, reviews and list members nested in them).
DATE_KEYS = ("datePublished", "dateModified", "dateCreated", "uploadDate")
DATED_TYPES = re.compile(r"(?:Article|Posting|Report|Page|VideoObject|Recipe|CreativeWork)$")
#: JSON-LD types whose ``name`` is the site's or its owner's.
SITE_TYPES = frozenset({"WebSite", "Organization", "NewsMediaOrganization"})
#: Host labels that say nothing about the site ("www.example.com", "m.example.com").
_HOST_NOISE = frozenset({"www", "m", "amp", "mobile", "blog", "blogs", "news"})
#: JSON-LD types and og:type values that make a page an article (a news story, a blog post).
ARTICLE_TYPES = re.compile(r"(?:Article|BlogPosting|Posting|Report)$|^article\b")
#: Headings past these are navigation or teasers, not the page's headline.
MAX_HEADINGS = 3
MAX_HEADING_CHARS = 300
#: Links read for section names (menus, breadcrumbs); a mega-menu past this adds nothing.
MAX_SECTION_LINKS = 400
#: A section name ("Opinion", "The Two-Way") is a short link text.
MAX_SECTION_WORDS = 4
# Spaced separators and unspaced ones that join parts of titles (see crawler.extract.sitename):
# section names are read only for a title of three parts or more, since reading a page's
# menus costs up to ten times all the rest of these facts.
_PART_RE = re.compile(r"\s(?:[|\-\u2013\u2014·•:»«/~]|::|--)\s|[_|\uff5c\u2502\uff3f]")
#: Elements that pages mark as their headline, for pages with no title and no <h1>.
_HEADLINE_XPATH = (
    "//*[@itemprop='headline'] | //*[contains(@class, 'headline')]"
    " | //*[contains(@class, 'entry-title')] | //*[contains(@class, 'post-title')]"
    " | //*[contains(@class, 'article-title')]"
)
#: Elements that hold a page's menus and breadcrumbs, where section names are links.
_MENU_XPATH = (
    "//nav//a | //header//a | //*[contains(@class, 'breadcrumb')]//a"
    " | //*[contains(@class, 'menu')]//a"
)


def squash(text: str) -> str:
    """``text`` reduced to lowercase letters and digits, for comparing names and titles."""
    return _NON_WORD_RE.sub("", text.casefold())


def one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class PageFacts:
    """Candidate titles, site names and dates of one page (texts on one line, names squashed)."""

    title_tag: str | None  #: the <title> in <head>
    meta_titles: tuple[str, ...]  #: og:title, twitter:title, JSON-LD headline...
    headings: tuple[str, ...]  #: the first visible <h1> texts outside menus, logos excepted
    site_names: frozenset[str]  #: og:site_name, application-name, JSON-LD publisher...
    host_names: frozenset[str]  #: "example" and "examplecom" for www.example.com
    home: bool  #: the URL is a site's home page ("/")
    heading_count: int = 0  #: how many <h1> the page has outside <nav> and <footer>
    article: bool = False  #: og:type or JSON-LD says the page is an article
    section_names: frozenset[str] = frozenset()  #: menu and breadcrumb links, URL path parts
    body_headline: str | None = None  #: a headline in the body, read when no title is found
    #: the dates the page declares: meta tags, JSON-LD, ``<time datetime>``
    dates: frozenset[date] = frozenset()

    @classmethod
    def read(cls, tree: HtmlElement, url: str | None) -> PageFacts:
        titles: list[str] = []
        sites: set[str] = set()
        dates: set[date | None] = set()
        article = False
        for meta in tree.iter("meta", "time"):  # one walk of the tree for both
            if meta.tag == "time":
                dates.add(parse_date(meta.get("datetime")))
                continue
            content = one_line(meta.get("content") or "")
            kind = meta.get("property") or meta.get("name") or meta.get("itemprop") or ""
            kind = kind.strip().lower()
            if not content:
                continue
            if kind in TITLE_METAS:
                titles.append(_unescaped(content))
            elif kind in SITE_METAS:
                sites.add(squash(content.lstrip("@")))
            elif kind == "og:type" and ARTICLE_TYPES.search(content.lower()):
                article = True
            elif _DATE_META_RE.search(kind):
                dates.add(parse_date(content))
        for item in _json_ld(tree):
            if isinstance(item.get("headline"), str):
                titles.append(_unescaped(one_line(item["headline"])))
            if any(ARTICLE_TYPES.search(kind) for kind in _types(item)):
                article = True
            dates.update(_item_dates(item))
            name = item.get("name")
            if isinstance(name, str) and SITE_TYPES.intersection(_types(item)):
                sites.add(squash(name))
            publisher = item.get("publisher")
            if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
                sites.add(squash(publisher["name"]))
        tag = tree.find(".//head//title")
        title_tag = one_line(tag.text_content()) if tag is not None else ""
        headings = list(_headings(tree))
        lone = not (title_tag or titles or headings)
        return cls(
            title_tag=title_tag or None,
            meta_titles=tuple(dict.fromkeys(title for title in titles if title)),
            headings=tuple(text for text, logo in headings[:MAX_HEADINGS] if not logo),
            site_names=frozenset(sites - {""}),
            host_names=host_names(url),
            home=_path(url).strip("/") == "" if url else False,
            heading_count=len(headings),
            article=article,
            section_names=(
                _section_names(tree, url)
                if any(map(_has_parts, (title_tag, *titles)))
                else frozenset()
            ),
            body_headline=_body_headline(tree) if lone else None,
            dates=frozenset(day for day in dates if day is not None),
        )


def host_names(url: str | None) -> frozenset[str]:
    """How a site may call itself after its host: "example", "examplecom", "shopexamplecom"."""
    try:
        host = (urlsplit(url).hostname or "") if url else ""
    except ValueError:  # "http://[broken" and the like
        return frozenset()
    labels = [label for label in host.split(".") if label and label not in _HOST_NOISE]
    if len(labels) < 2:
        return frozenset()
    names = {labels[-2], "".join(labels[-2:]), "".join(labels)}
    if len(labels) >= 3 and len(labels[-2]) <= 3:  # example.co.uk, example.com.au
        names.add(labels[-3])
    return frozenset(name for name in map(squash, names) if len(name) >= 3)


def _item_dates(item: dict[str, Any]) -> Iterator[date | None]:
    """The dates of a JSON-LD item of the page's own (:data:`DATED_TYPES`)."""
    if any(DATED_TYPES.search(kind) for kind in _types(item)):
        yield from (parse_date(item.get(key)) for key in DATE_KEYS)


def _types(item: dict[str, Any]) -> list[str]:
    types = item.get("@type")
    return [t for t in (types if isinstance(types, list) else [types]) if isinstance(t, str)]


def _path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return "?"


def _has_parts(title: str) -> bool:
    """Whether ``title`` has room for a section name: three parts or more."""
    return len(_PART_RE.findall(title)) >= 2


def _unescaped(text: str) -> str:
    """``text`` with the HTML entities that pages escape twice ("&amp;#8211;") resolved."""
    return html.unescape(text) if "&" in text else text


def _headings(tree: HtmlElement) -> Iterator[tuple[str, bool]]:
    """Each <h1> outside menus and footers, and whether it is a logo (it links to "/")."""
    for heading in tree.iter("h1"):
        ancestors = list(heading.iterancestors())
        if any(parent.tag in ("nav", "footer") for parent in ancestors):
            continue
        if any(_hidden(element) for element in (heading, *ancestors)):
            continue
        text = one_line(heading.text_content())
        if 3 <= len(text) <= MAX_HEADING_CHARS:
            links = [*heading.iter("a"), *(parent for parent in ancestors if parent.tag == "a")]
            yield text, any(_links_home(link.get("href")) for link in links)


def _body_headline(tree: HtmlElement) -> str | None:
    """The first element marked as a headline, else the first <h2> or <h3> outside menus."""
    for path in (_HEADLINE_XPATH, "//h2 | //h3"):
        for element in tree.xpath(path):
            if any(parent.tag in ("nav", "footer", "aside") for parent in element.iterancestors()):
                continue
            text = one_line(element.text_content())
            if 3 <= len(text) <= MAX_HEADING_CHARS:
                return text
    return None


def _hidden(element: HtmlElement) -> bool:
    # Only an inline style: the "hidden" attribute is often a placeholder that scripts
    # reveal, and stylesheets are not read.
    return "display:none" in (element.get("style") or "").replace(" ", "").lower()


def _links_home(href: str | None) -> bool:
    """Whether ``href`` goes to a site's home page, as a logo's link does."""
    href = (href or "").strip()
    if not href or href.startswith(("#", "?")):  # this page itself, or a place on it
        return False
    try:
        parts = urlsplit(href)
    except ValueError:
        return False
    return parts.path.strip("/") in ("", "index.html", "index.php") and not parts.query


def _section_names(tree: HtmlElement, url: str | None) -> frozenset[str]:
    """Squashed names of the site's sections: short menu and breadcrumb links, URL path parts."""
    names: set[str] = set()
    for link in tree.xpath(_MENU_XPATH)[:MAX_SECTION_LINKS]:
        text = one_line(link.text_content())
        if text and len(text.split()) <= MAX_SECTION_WORDS:
            names.add(squash(text))
    if url:  # the folders of the URL, not its last part: that is often the headline's slug
        folders = [part for part in _path(url).split("/") if part][:-1]
        names.update(squash(unquote(part)) for part in folders)
    return frozenset(names - {""})


def _json_ld(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    """Every object in the page's JSON-LD blocks, nested ones and @graph members included."""
    for script in tree.iterfind(".//script[@type='application/ld+json']"):
        try:
            # strict=False: pages put raw line breaks inside JSON strings.
            stack: list[Any] = [json.loads(script.text or "", strict=False)]
        except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
            continue
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                stack.extend(
                    value
                    for key, value in item.items()
                    if isinstance(value, list | dict) and key not in ("publisher", "author")
                )
