"""Metadata touch-ups on top of trafilatura: titles without site names, dates, language."""

from __future__ import annotations

import re
from datetime import date

from lxml import html as lxml_html

#: Separators that join a headline and a site name in ``<title>``.
_SEPARATORS = ("|", "–", "—", "-", "·", "•", ":", "::", "»", "/")
_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
# lxml refuses text that still declares its encoding.
_XML_DECLARATION_RE = re.compile(r"^\s*<\?xml[^>]*>")
#: Only the start of a page is read for its declared language.
LANGUAGE_SCAN_CHARS = 64 * 1024


def _squash(text: str) -> str:
    return re.sub(r"\W+", "", text.casefold())


def clean_title(title: str | None, site_name: str | None) -> str | None:
    """``title`` without a leading or trailing site name (``Headline | Site``)."""
    if not title or not site_name:
        return title
    site = _squash(site_name)
    if not site:
        return title
    for separator in _SEPARATORS:
        spaced = f" {separator} "
        if spaced not in title:
            continue
        head, _, tail = title.rpartition(spaced)
        if _squash(tail) == site and head.strip():
            return head.strip()
        first, _, rest = title.partition(spaced)
        if _squash(first) == site and rest.strip():
            return rest.strip()
    return title


def parse_date(value: str | None) -> date | None:
    """A ``YYYY-MM-DD`` date from trafilatura, or None."""
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def page_language(html: str) -> str | None:
    """The language the page declares: ``<html lang>``, then Content-Language, then og:locale."""
    head = _XML_DECLARATION_RE.sub("", html[:LANGUAGE_SCAN_CHARS], count=1)
    try:
        root = lxml_html.fromstring(head)
    except Exception:  # lxml refuses empty or odd documents
        return None
    candidates = [
        root.get("lang"),
        root.get("{http://www.w3.org/XML/1998/namespace}lang"),
        *root.xpath(
            "//meta[translate(@http-equiv,'CONTENTLANGUAGE','contentlanguage')"
            "='content-language']/@content"
        ),
        *root.xpath("//meta[@property='og:locale']/@content"),
    ]
    for candidate in candidates:
        if not candidate:
            continue
        tag = candidate.split(",")[0].strip().replace("_", "-")
        if _LANG_RE.match(tag):
            primary, _, rest = tag.partition("-")
            return primary.lower() + (f"-{rest.upper()}" if rest and len(rest) == 2 else "")
    return None
