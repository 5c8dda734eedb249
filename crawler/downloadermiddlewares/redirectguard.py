"""Refuse redirects from a public address into a private one (loopback, LAN, link-local...).

A page on the public web that redirects to ``http://127.0.0.1/`` or
``http://10.0.0.1/admin`` would have the crawler fetch, and archive, what only
its own machine or network can see. Such redirects are not followed unless
``ARCHIVER_REDIRECT_TO_PRIVATE`` is on, as trafilatura's downloader refuses them.

What counts is the address each side is reached at, not how its URL is written:
the address the redirecting response came from (Scrapy's ``Response.ip_address``,
noted at ``response_downloaded``) and every address the target's host resolves
to, looked up asynchronously with the reactor's resolver (through Scrapy's DNS
cache, which the download then uses). A target with any non-global address is
refused. URLs of the input are the user's choice: a seed on 127.0.0.1 is
fetched, and its redirects within private space are followed, since they come
from a private address. A target whose host cannot be resolved is let through:
its download fails on its own, and that failure is archived.

The check runs on the redirected request before robots.txt (so that not even
the target's robots.txt is asked for), for HTTP redirects and ``<meta
http-equiv="refresh">`` alike. A refused redirect ends the request with
:class:`~scrapy.exceptions.IgnoreRequest`; the redirecting response itself is
archived already.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IResolutionReceiver
from zope.interface import implementer

from crawler.meta import SOURCE_META

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.internet.interfaces import IAddress, IHostResolution

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

STATS = "archiver/redirects/refused_private"
SETTING = "ARCHIVER_REDIRECT_TO_PRIVATE"


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is on the public internet (not private, loopback, multicast...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def refusal(address: IPAddress) -> str:
    """The reason a redirect to ``address`` is not followed."""
    return (
        f"redirect from a public address to a private one ({address}) refused; "
        f"set {SETTING} to follow"
    )


@implementer(IResolutionReceiver)
class _Addresses:
    """Collects the addresses a host name resolves to."""

    def __init__(self) -> None:
        self.addresses: list[IPAddress] = []
        self.done: Deferred[list[IPAddress]] = Deferred()

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        pass

    def addressResolved(self, address: IAddress) -> None:
        host = getattr(address, "host", None)
        if host is not None:
            self.addresses.append(ipaddress.ip_address(host.split("%", 1)[0]))

    def resolutionComplete(self) -> None:
        self.done.callback(self.addresses)


async def resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    """Every address of ``host``: itself if it is an address, else from the reactor's resolver.

    An unknown host, or a lookup that takes over ``timeout`` seconds, gives an empty list.
    """
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    from twisted.internet import reactor

    receiver = _Addresses()
    reactor.nameResolver.resolveHostName(receiver, host, port)  # type: ignore[attr-defined]
    receiver.done.addTimeout(timeout, reactor)
    try:
        return await maybe_deferred_to_future(receiver.done)
    except defer.TimeoutError:
        return []


class RedirectGuardMiddleware:
    """Refuses redirected requests that lead from a public address to a private one."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if settings.getbool(SETTING):
            raise NotConfigured(f"{SETTING} is on")
        if settings.get("ARCHIVER_REPLAY"):
            raise NotConfigured("a replay fetches nothing from the network")
        self.crawler = crawler
        #: How long to wait for the target's addresses (the resolver itself may not stop).
        self.dns_timeout = settings.getfloat("DNS_TIMEOUT")
        crawler.signals.connect(self.response_downloaded, signal=signals.response_downloaded)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def response_downloaded(self, response: Response, request: Request) -> None:
        # The redirect middleware copies the meta into the redirected request.
        if response.ip_address is None:
            request.meta.pop(SOURCE_META, None)
        else:
            request.meta[SOURCE_META] = str(response.ip_address)

    async def process_request(self, request: Request) -> None:
        source = request.meta.get(SOURCE_META)
        if not request.meta.get("redirect_urls") or source is None:
            return
        if not is_public(ipaddress.ip_address(source)):
            return
        url = urlparse_cached(request)
        if not url.hostname:
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        for address in await resolve(url.hostname, port, self.dns_timeout):
            if not is_public(address):
                self.crawler.stats.inc_value(STATS)
                reason = refusal(address)
                logger.info(
                    "Not following %(url)s: %(reason)s",
                    {"url": request.url, "reason": reason},
                )
                raise IgnoreRequest(reason)
