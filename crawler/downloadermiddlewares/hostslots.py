"""Hold ``CONCURRENT_REQUESTS_PER_DOMAIN`` for real: a download slot per request, per host.

Scrapy 2.19's downloader does not keep its own per-host limit when
``DOWNLOAD_DELAY`` is 0 on the asyncio reactor: ``Downloader._process_queue``
starts each download as a task and loops while ``slot.free_transfer_slots()``
is above 0, but a download counts as transferring only once its task runs, so
one pass of the loop starts every request queued for the host (with a limit of
2, a crawl of 16 pages of one local host had all 16 at once). With a delay the
loop starts one request a pass and the limit holds. (On Twisted's default
reactor the task runs at once and the limit holds too.)

This middleware lets at most the slot's concurrency (``CONCURRENT_REQUESTS_PER_DOMAIN``,
``CONCURRENT_REQUESTS_PER_IP`` or the slot's ``DOWNLOAD_SLOTS`` entry) of a host's
requests past it at once; the others wait here, in order, until a download of
the host ends (``request_left_downloader``). The downloader then never holds
more of a host's requests than it may run, so its own loop cannot overshoot,
and everything else in it (delays, AutoThrottle, the Crawl-delay floor and the
Retry-After hold of the slot) works as before. It sits just outside the archive
guard, so that a request takes its slot only on its way to the network.

When ``ARCHIVER_REDIS_URL`` is set, each request also takes a lease on one of
the host's slots in Redis and its start time there (see
:mod:`crawler.distributed.hosts`): the limit, the delay and the Crawl-delay then
hold across every worker sharing that Redis, and a 429/503 ``Retry-After``
holds the host for all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.core.downloader import Downloader
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import call_later, is_asyncio_available
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

from crawler.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from crawler.politeness import RETRY_AFTER_STATUSES, retry_after_seconds

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.distributed.hosts import RedisHostSlots

logger = logging.getLogger(__name__)

STATS = "archiver/host_slots"


class HostLimiter:
    """At most ``limit(key)`` holders per key at once; the others wait in arrival order."""

    def __init__(self, limit: Callable[[str], int]) -> None:
        self.limit = limit
        self._running: dict[str, int] = {}
        self._waiting: dict[str, deque[Deferred[None]]] = {}

    def running(self, key: str) -> int:
        return self._running.get(key, 0)

    async def acquire(self, key: str) -> None:
        if not self._waiting.get(key) and self.running(key) < self.limit(key):
            self._running[key] = self.running(key) + 1
            return
        turn: Deferred[None] = Deferred()
        self._waiting.setdefault(key, deque()).append(turn)
        try:
            await maybe_deferred_to_future(turn)
        except BaseException:
            if turn in self._waiting.get(key, ()):
                self._waiting[key].remove(turn)
            raise

    def release(self, key: str) -> None:
        self._running[key] = self.running(key) - 1
        if self._running[key] <= 0:
            del self._running[key]
        self._wake(key)

    def _wake(self, key: str) -> None:
        queue = self._waiting.get(key)
        while queue and self.running(key) < self.limit(key):
            turn = queue.popleft()
            self._running[key] = self.running(key) + 1
            # Not at once: the releaser is inside the downloader, which must not be re-entered.
            call_later(0, self._give, key, turn)
        if queue is not None and not queue:
            del self._waiting[key]

    def _give(self, key: str, turn: Deferred[None]) -> None:
        if turn.called:  # its waiter was cancelled meanwhile (the crawl is closing)
            self.release(key)
        else:
            turn.callback(None)


@dataclass(slots=True)
class _Ticket:
    key: str
    lease: str | None = None


class HostSlotsMiddleware:
    """Lets at most a host's concurrency of requests reach the downloader at once."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("ARCHIVER_HOST_SLOTS_ENABLED"):
            raise NotConfigured("ARCHIVER_HOST_SLOTS_ENABLED is off")
        if settings.get("ARCHIVER_REPLAY"):
            raise NotConfigured("a replay asks no server for anything")
        self.crawler = crawler
        self.domain_concurrency = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self.ip_concurrency = settings.getint("CONCURRENT_REQUESTS_PER_IP")
        if self.domain_concurrency < 1 and self.ip_concurrency < 1:
            raise ValueError(
                f"CONCURRENT_REQUESTS_PER_DOMAIN must be at least 1, not {self.domain_concurrency}"
            )
        self.delay = settings.getfloat("DOWNLOAD_DELAY")
        if settings.getbool("AUTOTHROTTLE_ENABLED"):
            self.delay = max(self.delay, settings.getfloat("AUTOTHROTTLE_START_DELAY"))
        self.jitter = settings.getfloat("DOWNLOAD_DELAY_JITTER")
        self.retry_after = settings.getbool("ARCHIVER_RETRY_AFTER_ENABLED")
        self.max_retry_after = settings.getfloat("ARCHIVER_MAX_RETRY_AFTER")
        self.local = HostLimiter(self._limit)
        self.shared: RedisHostSlots | None = None
        if url := settings.get("ARCHIVER_REDIS_URL"):
            self.shared = self._redis_slots(url, settings.getfloat("ARCHIVER_HOST_SLOT_TTL"))
            crawler.signals.connect(self._response_downloaded, signal=signals.response_downloaded)
            crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
        self._tickets: dict[Request, _Ticket] = {}
        self._redis_up = True
        self._releases: set[asyncio.Task[None]] = set()
        crawler.signals.connect(self._request_left, signal=signals.request_left_downloader)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    @staticmethod
    def _redis_slots(url: str, ttl: float) -> RedisHostSlots:
        if not is_asyncio_available():
            raise ValueError(
                "ARCHIVER_REDIS_URL needs the asyncio reactor (TWISTED_REACTOR = "
                "'twisted.internet.asyncioreactor.AsyncioSelectorReactor')"
            )
        from crawler.distributed.hosts import RedisHostSlots
        from crawler.distributed.preflight import redis_version_problem

        if (problem := redis_version_problem(url)) is not None:
            raise ValueError(problem)
        return RedisHostSlots(url, ttl=ttl)

    @property
    def downloader(self) -> Downloader:
        assert self.crawler.engine is not None
        return self.crawler.engine.downloader

    # -- the host's numbers, as the downloader's slot has them -------------------------

    def _limit(self, key: str) -> int:
        slot = self.downloader.slots.get(key)
        if slot is not None:
            return max(1, slot.concurrency)
        default = self.ip_concurrency or self.domain_concurrency
        return max(
            1, int(self.downloader.per_slot_settings.get(key, {}).get("concurrency", default))
        )

    def _spacing(self, key: str) -> float:
        """The least time between two starts of the host's requests, across workers.

        The slot's delay at the top of its jitter: the worker's own slot then never
        waits past the start Redis gave, so that spacing holds between every two
        starts. Never below the host's Crawl-delay, known before its slot is.
        """
        slot = self.downloader.slots.get(key)
        if slot is not None:
            delay, jitter = slot.delay, slot.jitter
        else:
            per_slot = self.downloader.per_slot_settings.get(key, {})
            delay = float(per_slot.get("delay", self.delay))
            jitter = float(per_slot.get("jitter", self.jitter))
        return max(delay * (1 + jitter), self._crawl_delay(key))

    def _crawl_delay(self, key: str) -> float:
        for middleware in self.downloader.middleware.middlewares:
            if isinstance(middleware, RobotsTxtMiddleware):
                # Set when the request passed robots.txt, before its slot takes the floor.
                return middleware.crawl_delay_floor(key)
        return 0.0

    # -- taking and giving back a slot ---------------------------------------------------

    async def process_request(self, request: Request) -> None:
        if request in self._tickets:
            return  # already holds its slot (a middleware sent it round again)
        key = self.downloader.get_slot_key(request)
        await self.local.acquire(key)
        ticket = self._tickets[request] = _Ticket(key)
        if self.shared is None:
            return
        try:
            ticket.lease, wait = await self.shared.acquire(
                key, self._limit(key), self._spacing(key), self._crawl_delay(key)
            )
        except Exception:
            self._redis_failed("take a slot of", key)
            return
        self._redis_answered()
        if wait > 0:
            self.crawler.stats.inc_value(f"{STATS}/waited")
            await asyncio.sleep(wait)

    def _request_left(self, request: Request) -> None:
        self._release(request)

    def process_response(self, request: Request, response: Response) -> Response:
        self._release(request)  # answered without a download (a closer middleware)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        self._release(request)

    def _release(self, request: Request) -> None:
        ticket = self._tickets.pop(request, None)
        if ticket is None:
            return
        if ticket.lease is None or self.shared is None:
            self.local.release(ticket.key)
            return
        task = asyncio.ensure_future(self._release_lease(ticket))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release_lease(self, ticket: _Ticket) -> None:
        assert self.shared is not None and ticket.lease is not None
        try:
            await self.shared.release(ticket.key, ticket.lease)
        except Exception:
            self._redis_failed("give back a slot of", ticket.key)
        finally:
            # After Redis: the next request of this worker then finds the slot free there.
            self.local.release(ticket.key)

    # -- Retry-After, for every worker -----------------------------------------------------

    def _response_downloaded(self, response: Response, request: Request) -> None:
        if not self.retry_after or response.status not in RETRY_AFTER_STATUSES:
            return
        header = response.headers.get(b"Retry-After")
        key = request.meta.get(Downloader.DOWNLOAD_SLOT)
        if header is None or key is None:
            return
        wait = retry_after_seconds(
            header, now=datetime.now(UTC), server_date=response.headers.get(b"Date")
        )
        if wait is None or not 0 < wait <= self.max_retry_after:
            return
        task = asyncio.ensure_future(self._hold(key, wait))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _hold(self, key: str, wait: float) -> None:
        assert self.shared is not None
        try:
            await self.shared.hold(key, wait)
        except Exception:
            self._redis_failed("hold", key)

    def _redis_failed(self, action: str, key: str) -> None:
        """Count the failure; warn once per outage, not once per request."""
        self.crawler.stats.inc_value(f"{STATS}/redis_errors")
        if not self._redis_up:
            logger.debug("Could not %(action)s %(host)s in Redis", {"action": action, "host": key})
            return
        self._redis_up = False
        logger.warning(
            "Could not %(action)s %(host)s in Redis: until Redis answers again, this worker "
            "keeps the hosts' limits on its own (stat %(stat)s)",
            {"action": action, "host": key, "stat": f"{STATS}/redis_errors"},
            exc_info=True,
        )

    def _redis_answered(self) -> None:
        if not self._redis_up:
            self._redis_up = True
            logger.info("Redis answers again: host slots are shared with the other workers")

    async def _spider_closed(self) -> None:
        assert self.shared is not None
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)
        await self.shared.close()
