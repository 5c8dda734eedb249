"""Metadata that trafilatura leaves as text or does not read: dates as dates, the language."""

from __future__ import annotations

import itertools
import re
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from lxml.html import HtmlElement

_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_CONTENT_LANGUAGE = (
    "//meta[translate(@http-equiv,'CONTENTLANGUAGE','contentlanguage')='content-language']/@content"
)


def parse_date(value: object) -> date | None:
    """The date a text starts with as ``YYYY-MM-DD`` (trafilatura's dates, ISO timestamps in
    metadata), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def declared_site_name(name: str | None, url: str) -> str | None:
    """``name`` unless it is only the URL's host, which trafilatura falls back to.

    The corpus wants the publication's name as the page gives it; a host name
    is something the page did not say.
    """
    if not name:
        return None
    host = (urlsplit(url).netloc or "").casefold()
    bare = re.sub(r"^(?:www|w[0-9]+)\.", "", host)
    return None if name.strip().casefold() in {host, bare} else name


def lazy(find: Callable[[], Any]) -> Iterator[Any]:
    """The results of ``find()``, found only when the first one is asked for."""
    yield from find()


def page_language(root: HtmlElement) -> str | None:
    """The language the page declares: ``<html lang>``, then Content-Language, then og:locale."""
    # In order, and lazily: most pages say it on <html>, and the others cost a walk each.
    candidates = itertools.chain(
        (root.get("lang"), root.get("{http://www.w3.org/XML/1998/namespace}lang")),
        lazy(lambda: root.xpath(_CONTENT_LANGUAGE)),
        lazy(lambda: root.xpath("//meta[@property='og:locale']/@content")),
    )
    for candidate in candidates:
        if not isinstance(candidate, str) or not candidate:
            continue
        tag = candidate.split(",")[0].strip().replace("_", "-")
        if _LANG_RE.match(tag):
            primary, _, rest = tag.partition("-")
            return primary.lower() + (f"-{rest.upper()}" if rest and len(rest) == 2 else "")
    return None
