"""What a page says about itself: its titles, headings and site names, read once from the tree.

trafilatura reads the same tags but keeps only its final pick; the touch-ups in
:mod:`crawler.extract.title` need the other candidates too, to check that pick.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator

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
#: JSON-LD types whose ``name`` is the site's or its owner's.
SITE_TYPES = frozenset({"WebSite", "Organization", "NewsMediaOrganization"})
#: Host labels that say nothing about the site ("www.example.com", "m.example.com").
_HOST_NOISE = frozenset({"www", "m", "amp", "mobile", "blog", "blogs", "news"})
#: Headings past these are navigation or teasers, not the page's headline.
MAX_HEADINGS = 3
MAX_HEADING_CHARS = 300


def squash(text: str) -> str:
    """``text`` reduced to lowercase letters and digits, for comparing names and titles."""
    return _NON_WORD_RE.sub("", text.casefold())


def one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class PageFacts:
    """Candidate titles and site names of one page (texts on one line, names squashed)."""

    title_tag: str | None  #: the <title> in <head>
    meta_titles: tuple[str, ...]  #: og:title, twitter:title, JSON-LD headline...
    headings: tuple[str, ...]  #: the first <h1> texts outside <nav> and <footer>
    site_names: frozenset[str]  #: og:site_name, application-name, JSON-LD publisher...
    host_names: frozenset[str]  #: "example" and "examplecom" for www.example.com
    home: bool  #: the URL is a site's home page ("/")

    @classmethod
    def read(cls, tree: HtmlElement, url: str | None) -> PageFacts:
        titles: list[str] = []
        sites: set[str] = set()
        for meta in tree.iter("meta"):
            content = one_line(meta.get("content") or "")
            kind = meta.get("property") or meta.get("name") or meta.get("itemprop") or ""
            kind = kind.strip().lower()
            if not content:
                continue
            if kind in TITLE_METAS:
                titles.append(content)
            elif kind in SITE_METAS:
                sites.add(squash(content.lstrip("@")))
        for item in _json_ld(tree):
            if isinstance(item.get("headline"), str):
                titles.append(one_line(item["headline"]))
            name = item.get("name")
            if isinstance(name, str) and SITE_TYPES.intersection(_types(item)):
                sites.add(squash(name))
            publisher = item.get("publisher")
            if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
                sites.add(squash(publisher["name"]))
        tag = tree.find(".//head//title")
        title_tag = one_line(tag.text_content()) if tag is not None else ""
        return cls(
            title_tag=title_tag or None,
            meta_titles=tuple(dict.fromkeys(title for title in titles if title)),
            headings=tuple(_headings(tree)),
            site_names=frozenset(sites - {""}),
            host_names=host_names(url),
            home=_path(url).strip("/") == "" if url else False,
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


def _types(item: dict[str, Any]) -> list[str]:
    types = item.get("@type")
    return [t for t in (types if isinstance(types, list) else [types]) if isinstance(t, str)]


def _path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return "?"


def _headings(tree: HtmlElement) -> Iterator[str]:
    found = 0
    for heading in tree.iter("h1"):
        if any(parent.tag in ("nav", "footer") for parent in heading.iterancestors()):
            continue
        text = one_line(heading.text_content())
        if 3 <= len(text) <= MAX_HEADING_CHARS:
            yield text
            found += 1
            if found == MAX_HEADINGS:
                return


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
