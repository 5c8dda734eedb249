"""Archive what a page needs to render: its stylesheets, scripts, fonts, icons and images.

With ``ARCHIVER_REQUISITES`` on, every HTML page a spider is given (2xx, not a
requisite itself, not a copy fetched from a web archive) is searched for
``link[rel~=stylesheet]``, ``link[rel~=icon]``, ``link[rel~=preload|modulepreload]``
(styles, scripts, fonts and images only), ``script[src]``, ``img[src]``,
``img[srcset]``, ``source[srcset]`` and ``video[poster]``. Each URL found becomes a
request that goes through the scheduler and the downloader like a page's: the
dupe filter (an asset that many pages share is fetched once a crawl), robots.txt,
the per-host politeness, retries and redirects; the archive extension stores its
exchange at ``response_downloaded`` as it stores every other. Requisites are
fetched before the next pages of the input (the scheduler serves requests that
callbacks yield before start requests), so they are captured close to their page.

Every candidate of a ``srcset`` is requested, not only the largest: a browser
replaying the page picks the candidate its screen wants, and a candidate missing
from the archive is a broken image. ``ARCHIVER_REQUISITES_MAX`` caps the requests
of one page, stylesheets and scripts first and ``srcset`` candidates last, so a
gallery cannot flood the crawl and a capped page still replays styled.

One level only: the requisites of a requisite (a stylesheet's ``@import`` and
``url()``, a script's own loads) are not followed, nor are ``url()`` in inline
``style``, iframes, audio and video media, or what scripts add after loading.

Requisites never reach the spider: they have their own callback and errback,
which only count them, so no item, text file or seed row comes of them and no
input line's outcome depends on them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import urldefrag, urljoin, urlsplit

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import HtmlResponse
from scrapy.utils.response import get_base_url
from w3lib.html import strip_html5_whitespace
from w3lib.url import safe_url_string

from crawler.failures import ROBOTS_MESSAGE, describe
from crawler.inputs import check_url
from crawler.meta import COPY_META, FAILURE_META

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator
    from typing import Self

    from lxml.html import HtmlElement
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

#: Request meta key: the :class:`Requisite` a request fetches. Its presence marks the
#: request (and its response) as a requisite, not a page.
REQUISITE_META = "archiver_requisite"
#: ARCHIVER_REQUISITES_HOSTS values: requisites from any host (CDNs included), or only
#: from the page's own host.
HOSTS_ALL = "all"
HOSTS_SAME = "same"
HOSTS = (HOSTS_ALL, HOSTS_SAME)
#: Stats keys, all under this prefix.
STATS = "archiver/requisites"

#: URLs whose content is in the page already, or that no server can give.
_INLINE_SCHEMES = ("data:", "blob:", "javascript:", "about:")
_ELEMENTS = (
    "//link[@href] | //script[@src] | //img[@src or @srcset] | //source[@srcset] | //video[@poster]"
)
_WHITESPACE = " \t\n\r\f"


class Kind(StrEnum):
    """What a requisite is to its page, in the order a capped page keeps them."""

    STYLESHEET = "stylesheet"
    SCRIPT = "script"
    FONT = "font"
    ICON = "icon"
    IMAGE = "image"  #: an ``img`` element's ``src``
    POSTER = "poster"
    SRCSET = "srcset"  #: a candidate of a ``srcset``: the most numerous, so the last


_RANK = {kind: rank for rank, kind in enumerate(Kind)}
_PRELOADS = {
    "style": Kind.STYLESHEET,
    "script": Kind.SCRIPT,
    "font": Kind.FONT,
    "image": Kind.IMAGE,
}
#: What a browser asks for, so that servers that negotiate give what a browser gets.
IMAGE_ACCEPT = b"image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
ACCEPT = {Kind.STYLESHEET: b"text/css,*/*;q=0.1", Kind.SCRIPT: b"*/*", Kind.FONT: b"*/*"}


@dataclass(frozen=True, slots=True)
class Requisite:
    url: str  #: absolute, without fragment
    kind: Kind
    page: str = ""  #: the URL of the page that needs it


def srcset_urls(value: str) -> list[str]:
    """The URLs of a ``srcset``, as the HTML standard splits it.

    A URL may hold commas (``/c_fill,w_300/a.jpg``): only a comma after
    whitespace, or one that ends a URL, separates candidates.
    """
    urls = []
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and (value[pos] in _WHITESPACE or value[pos] == ","):
            pos += 1
        start = pos
        while pos < end and value[pos] not in _WHITESPACE:
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0  # descriptors, up to a comma outside parentheses
            while pos < end and (value[pos] != "," or depth):
                if value[pos] == "(":
                    depth += 1
                elif value[pos] == ")" and depth:
                    depth -= 1
                pos += 1
        if url:
            urls.append(url)
    return urls


def _link_kind(element: HtmlElement) -> Kind | None:
    rel = (element.get("rel") or "").lower().split()
    if "stylesheet" in rel:
        return Kind.STYLESHEET
    if "icon" in rel:
        return Kind.ICON
    if "modulepreload" in rel:
        return Kind.SCRIPT
    if "preload" in rel:
        return _PRELOADS.get((element.get("as") or "").strip().lower())
    return None


def _references(element: HtmlElement) -> Iterator[tuple[str, Kind]]:
    tag = element.tag
    if tag == "link":
        kind = _link_kind(element)
        if kind is not None:
            yield element.get("href", ""), kind
    elif tag == "script":
        yield element.get("src", ""), Kind.SCRIPT
    elif tag == "video":
        yield element.get("poster", ""), Kind.POSTER
    else:  # img, source
        if tag == "img" and element.get("src"):
            yield element.get("src", ""), Kind.IMAGE
        for url in srcset_urls(element.get("srcset") or ""):
            yield url, Kind.SRCSET


def references(root: HtmlElement) -> list[tuple[str, Kind]]:
    """What the page parsed into ``root`` refers to, once each, most needed first.

    References are as the page writes them, without fragment; those inline
    (``data:``) or pointing to no server (``javascript:``) are left out.
    """
    found: dict[str, Kind] = {}
    for element in root.xpath(_ELEMENTS):
        for value, kind in _references(element):
            reference = strip_html5_whitespace(value)
            if reference.lower().startswith(_INLINE_SCHEMES):
                continue
            reference = reference.split("#", 1)[0]
            if reference and (reference not in found or _RANK[kind] < _RANK[found[reference]]):
                found[reference] = kind
    # Stable: in document order within each kind.
    return sorted(found.items(), key=lambda pair: _RANK[pair[1]])


def resolve(reference: str, base: str, encoding: str = "utf-8") -> str:
    """The absolute URL of ``reference`` on a page whose base URL is ``base``.

    ``base`` is the page's URL or its ``<base href>``; ``encoding`` the page's,
    which a browser uses for the non-ASCII characters of a query.
    """
    return urldefrag(safe_url_string(urljoin(base, reference), encoding))[0]


def find_requisites(root: HtmlElement, base: str, encoding: str = "utf-8") -> list[Requisite]:
    """Every requisite of a page, absolute, once each, most needed first."""
    found: dict[str, Kind] = {}
    for reference, kind in references(root):
        found.setdefault(resolve(reference, base, encoding), kind)
    return [Requisite(url, kind) for url, kind in found.items()]


class RequisitesMiddleware:
    """Requests the requisites of each page the spider is given; counts what they become."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("ARCHIVER_REQUISITES"):
            raise NotConfigured("ARCHIVER_REQUISITES is off")
        self.crawler = crawler
        self.hosts = str(settings.get("ARCHIVER_REQUISITES_HOSTS"))
        self.limit = settings.getint("ARCHIVER_REQUISITES_MAX")
        if self.hosts not in HOSTS:
            raise ValueError(f"ARCHIVER_REQUISITES_HOSTS must be all or same, not {self.hosts!r}")
        if self.limit < 1:
            raise ValueError(f"ARCHIVER_REQUISITES_MAX must be at least 1, not {self.limit}")
        crawler.signals.connect(self.request_dropped, signal=signals.request_dropped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None
        return self.crawler.stats

    async def process_spider_output(
        self, response: Response | None, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        async for output in result:
            yield output
        if response is not None and _is_page(response):
            for request in self._requests(response):
                yield request

    def _requests(self, page: HtmlResponse) -> Iterator[Request]:
        found = references(page.selector.root)
        base, host = get_base_url(page), urlsplit(page.url).hostname
        seen = {urldefrag(page.url)[0]}
        wanted: list[Requisite] = []
        for position, (reference, kind) in enumerate(found):
            if len(wanted) == self.limit:
                # Resolving costs more than finding: a gallery of thousands of images
                # must not hold the reactor for what will not be fetched.
                self._capped(page, len(found) - position)
                break
            url = resolve(reference, base, page.encoding)
            if url in seen:
                continue
            seen.add(url)
            problem = check_url(url)
            if problem is not None:
                self._skip("invalid", url, page, problem)
            elif self.hosts == HOSTS_SAME and urlsplit(url).hostname != host:
                self._skip("other_host", url, page, "on another host")
            else:
                wanted.append(Requisite(url, kind, page.url))
        logger.debug("%(count)d requisites of %(url)s", {"count": len(wanted), "url": page.url})
        for requisite in wanted:
            self.stats.inc_value(f"{STATS}/requested")
            yield Request(
                requisite.url,
                callback=self.fetched,
                errback=self.failed,
                headers={"Accept": ACCEPT.get(requisite.kind, IMAGE_ACCEPT)},
                meta={REQUISITE_META: requisite},
            )

    def _skip(self, why: str, url: str, page: Response, reason: str) -> None:
        self.stats.inc_value(f"{STATS}/{why}")
        logger.debug(
            "Requisite %(url)s of %(page)s not requested: %(reason)s",
            {"url": url, "page": page.url, "reason": reason},
        )

    def _capped(self, page: Response, count: int) -> None:
        self.stats.inc_value(f"{STATS}/capped", count)
        logger.debug(
            "%(count)d more references of %(page)s not requested: over "
            "ARCHIVER_REQUISITES_MAX=%(limit)d",
            {"count": count, "page": page.url, "limit": self.limit},
        )

    # -- what became of them --------------------------------------------------

    def fetched(self, response: Response) -> Iterable[Any]:
        # A response reaches a callback only once it is in the archive (the guard sees
        # to it), and only with a status the spider handles (2xx unless told otherwise).
        self.stats.inc_value(f"{STATS}/archived")
        return ()

    def failed(self, failure: Failure) -> Iterable[Any]:
        request: Request = failure.request  # type: ignore[attr-defined]
        error = failure.value
        assert error is not None
        self.stats.inc_value(f"{STATS}/failed")
        if isinstance(error, IgnoreRequest) and str(error) == ROBOTS_MESSAGE:
            self.stats.inc_value(f"{STATS}/forbidden")
        requisite: Requisite = request.meta[REQUISITE_META]
        logger.debug(
            "Requisite %(url)s of %(page)s failed: %(reason)s",
            {"url": request.url, "page": requisite.page, "reason": describe(error)},
        )
        return ()

    def request_dropped(self, request: Request) -> None:
        # The scheduler drops what its dupe filter has seen: fetched or queued already.
        if REQUISITE_META in request.meta:
            self.stats.inc_value(f"{STATS}/duplicate")


def _is_page(response: Response) -> TypeGuard[HtmlResponse]:
    """Whether ``response`` is a page whose requisites are wanted."""
    if not isinstance(response, HtmlResponse) or not 200 <= response.status < 300:
        return False
    # A web archive's copy resolves relative URLs against the archive, not the site.
    return not any(key in response.meta for key in (REQUISITE_META, COPY_META, FAILURE_META))
