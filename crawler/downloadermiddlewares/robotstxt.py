"""Scrapy's robots.txt middleware: every waiting request gets the parser, Crawl-delay, limits.

In Scrapy 2.19, requests that arrive while a host's robots.txt is still being
downloaded all wait on one Deferred; the first waiter's callback returns None,
so every later waiter gets None and is let through unchecked. On a crawl that
opens with many URLs of one host, most of them would ignore robots.txt. Here
each waiter waits on a branch of its own that passes the parser along.

Scrapy parses ``Crawl-delay`` but does nothing with it. Here a host's
Crawl-delay for our user agent (capped at ``ARCHIVER_MAX_CRAWL_DELAY``) becomes
the least delay of the host's downloader slot: the slot's delay is raised to it
and its jitter narrowed so that no two requests start closer together. The
floor is put back each time a request reaches the slot (slots are created, and
collected when idle, by the downloader) and after each download, because
AutoThrottle lowers slot delays on ``response_downloaded`` down to
DOWNLOAD_DELAY: extensions are built before the engine's downloader
middlewares, so this middleware's handler runs after AutoThrottle's, and
before the downloader takes the slot's next request.

A robots.txt is read up to ``ARCHIVER_ROBOTSTXT_MAX_SIZE`` bytes, as the major
search engines do (Google reads 500 KiB): its download stops there (the archive
keeps what was received) and the rules after the last whole line within the limit
are ignored. A robots.txt that cannot be fetched is one warning line with the
reason, and the host's URLs are all allowed, as in Scrapy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from scrapy import Request, signals
from scrapy.core.downloader import Downloader
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from crawler.failures import describe
from crawler.meta import ROBOTSTXT_META
from crawler.politeness import capped, floor_slot_delay

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.robotstxt import RobotParser

logger = logging.getLogger(__name__)

STATS = "archiver/politeness/crawl_delay"
CUT_STATS = "archiver/robotstxt/cut"
FAILED_STATS = "archiver/robotstxt/failed"


def robots_prefix(body: bytes, limit: int) -> bytes:
    """The part of a robots.txt body that is read: whole lines within ``limit`` bytes."""
    if len(body) <= limit:
        return body
    head = body[:limit]
    end = max(head.rfind(b"\n"), head.rfind(b"\r"))
    return head[: end + 1]


class RobotsTxtMiddleware(ScrapyRobotsTxtMiddleware):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        self.max_crawl_delay = settings.getfloat("ARCHIVER_MAX_CRAWL_DELAY")
        # A replay asks no server for anything: nothing to space out.
        self.crawl_delay_enabled = self.max_crawl_delay > 0 and not settings.get("ARCHIVER_REPLAY")
        self.jitter = settings.getfloat("DOWNLOAD_DELAY_JITTER")
        self.max_size = settings.getint("ARCHIVER_ROBOTSTXT_MAX_SIZE")
        if self.max_size <= 0:
            raise ValueError(
                f"ARCHIVER_ROBOTSTXT_MAX_SIZE must be a positive number of bytes, "
                f"not {self.max_size}"
            )
        #: Bytes received so far by each robots.txt download in progress.
        self._received: WeakKeyDictionary[Request, int] = WeakKeyDictionary()
        #: The Crawl-delay applied to each host (netloc), None where robots.txt gives none.
        self._crawl_delays: dict[str, float | None] = {}
        #: The least delay of each downloader slot (by slot key) that robots.txt asks for.
        self._floors: dict[str, float] = {}
        if self.crawl_delay_enabled:
            crawler.signals.connect(self._keep_floor, signal=signals.request_reached_downloader)
            crawler.signals.connect(self._keep_floor, signal=signals.response_downloaded)
        crawler.signals.connect(self._count_bytes, signal=signals.bytes_received)

    async def robot_parser(self, request: Request) -> RobotParser | None:
        netloc = urlparse_cached(request).netloc
        if netloc not in self._parsers:
            await self._fetch_robots(request, netloc)
        pending = self._parsers[netloc]
        if not isinstance(pending, Deferred):
            return pending
        branch: Deferred[RobotParser | None] = Deferred()

        def relay(parser: RobotParser | None) -> RobotParser | None:
            branch.callback(parser)
            return parser

        pending.addCallback(relay)
        return await maybe_deferred_to_future(branch)

    async def _fetch_robots(self, request: Request, netloc: str) -> None:
        """Fetch and parse ``netloc``'s robots.txt, as Scrapy does, with its size limited.

        Scrapy's own fetch logs a failure with its traceback; here a failure is one
        warning line with the reason: failing to fetch a robots.txt is expected on
        the web, and a traceback in the log means a bug.
        """
        self._parsers[netloc] = Deferred()
        url = urlparse_cached(request)
        robots = Request(
            f"{url.scheme}://{netloc}/robots.txt",
            priority=self.DOWNLOAD_PRIORITY,
            meta={"dont_obey_robotstxt": True, ROBOTSTXT_META: True},
            callback=NO_CALLBACK,
        )
        try:
            assert self.crawler.engine is not None
            response = await self.crawler.engine.download_async(robots)
            await self._parse_robots(response, netloc, request)
        except Exception as exc:
            if not isinstance(exc, IgnoreRequest):
                self.crawler.stats.inc_value(FAILED_STATS)
                logger.warning(
                    "robots.txt of %(host)s could not be fetched (%(reason)s): "
                    "all its URLs are allowed",
                    {"host": netloc, "reason": describe(exc)},
                )
            self._robots_error(exc, netloc)
        self.crawler.stats.inc_value("robotstxt/request_count")

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        body = robots_prefix(response.body, self.max_size)
        if len(body) < len(response.body) or "download_stopped" in response.flags:
            self.crawler.stats.inc_value(CUT_STATS)
            logger.warning(
                "robots.txt of %(host)s is larger than %(limit)d bytes: only its first "
                "%(read)d bytes are read (ARCHIVER_ROBOTSTXT_MAX_SIZE)",
                {"host": netloc, "limit": self.max_size, "read": len(body)},
            )
            response = response.replace(body=body)
        await super()._parse_robots(response, netloc, request)

    def _count_bytes(self, data: bytes, request: Request) -> None:
        """Stop a robots.txt download once it holds more than can be read."""
        if not request.meta.get(ROBOTSTXT_META):
            return
        received = self._received[request] = self._received.get(request, 0) + len(data)
        if received > self.max_size:
            raise StopDownload(fail=False)

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        if rp is not None and self.crawl_delay_enabled:
            delay = self._crawl_delay(rp, request)
            if delay is not None:
                key = self.crawler.engine.downloader.get_slot_key(request)
                self._floors[key] = max(delay, self._floors.get(key, 0.0))
        super().process_request_2(rp, request)

    # -- Crawl-delay -----------------------------------------------------------------

    def _crawl_delay(self, rp: RobotParser, request: Request) -> float | None:
        """The host's Crawl-delay, capped; read, logged and counted once per host."""
        host = urlparse_cached(request).netloc
        if host in self._crawl_delays:
            return self._crawl_delays[host]
        useragent = self._robotstxt_useragent or request.headers.get(
            b"User-Agent", self._default_useragent
        )
        assert useragent is not None
        asked = rp.crawl_delay(useragent)
        if asked is None or asked <= 0:
            self._crawl_delays[host] = None
            return None
        delay = self._crawl_delays[host] = capped(asked, self.max_crawl_delay)
        stats = self.crawler.stats
        stats.set_value(f"{STATS}/{host}", delay)
        if delay < asked:
            stats.inc_value(f"{STATS}_capped")
            logger.warning(
                "robots.txt of %(host)s asks for a Crawl-delay of %(asked)g s: waiting "
                "%(delay)g s between its requests (ARCHIVER_MAX_CRAWL_DELAY)",
                {"host": host, "asked": asked, "delay": delay},
            )
        else:
            logger.info(
                "Crawl-delay of %(host)s: %(delay)g s between its requests, from its robots.txt",
                {"host": host, "delay": delay},
            )
        return delay

    def crawl_delay_floor(self, key: str) -> float:
        """The least delay robots.txt asks of downloader slot ``key`` (0: none known yet)."""
        return self._floors.get(key, 0.0)

    def _keep_floor(self, request: Request) -> None:
        key: str | None = request.meta.get(Downloader.DOWNLOAD_SLOT)
        if key is None or (floor := self._floors.get(key)) is None:
            return
        downloader = self.crawler.engine.downloader
        slot = downloader.slots.get(key)
        if slot is not None:
            jitter = downloader.per_slot_settings.get(key, {}).get("jitter", self.jitter)
            floor_slot_delay(slot, floor, float(jitter))
