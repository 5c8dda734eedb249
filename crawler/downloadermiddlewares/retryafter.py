"""Honour ``Retry-After`` on 429 and 503: leave the host alone that long, then retry.

Scrapy's RetryMiddleware retries 429 and 503 at once, which is what a server
that says "come back in 2 minutes" asked us not to do. Here:

- At ``response_downloaded`` (before the downloader takes the slot's next
  request) the host's downloader slot is held: no request to it, the retry or
  any other, goes out before the time the server named. The hold uses the
  slot's own timer (``Slot.latercall``), which the downloader already obeys,
  and moves ``Slot.lastseen`` to the end of the hold, so that the usual delay
  follows it and the slot is not collected as idle meanwhile. Holding in
  ``process_request`` instead would let requests already queued in the slot
  through.
- In ``process_response`` the request is retried (counted against
  ``RETRY_TIMES`` like Scrapy's retries); the retry waits in the held slot. The
  response that asked for the wait is archived like any other, and so is the
  retried attempt.
- A wait over ``ARCHIVER_MAX_RETRY_AFTER`` is not honoured by waiting: the request
  is given up at once with a reason naming the limit, which becomes the seed's
  outcome, rather than retried at once against the server's wish.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from time import monotonic
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.core.downloader import Downloader
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.asyncio import call_later
from scrapy.utils.response import response_status_message

from crawler.politeness import RETRY_AFTER_STATUSES, retry_after_seconds

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.core.downloader import Slot
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

#: The wait a response's ``Retry-After`` asked for, in seconds, from download to process_response.
WAIT_META = "archiver_retry_after"
STATS = "archiver/politeness/retry_after"


class RetryAfterMiddleware:
    """Holds a host's slot for its ``Retry-After`` and retries the request after it."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("ARCHIVER_RETRY_AFTER_ENABLED"):
            raise NotConfigured("ARCHIVER_RETRY_AFTER_ENABLED is off")
        if settings.get("ARCHIVER_REPLAY"):
            raise NotConfigured("a replay asks no server for anything")
        self.crawler = crawler
        self.max_wait = settings.getfloat("ARCHIVER_MAX_RETRY_AFTER")
        self.retry_enabled = settings.getbool("RETRY_ENABLED")
        self.max_retry_times = settings.getint("RETRY_TIMES")
        self.priority_adjust = settings.getint("RETRY_PRIORITY_ADJUST")
        #: When each held slot is free again (time.monotonic()), by slot key.
        self._holds: dict[str, float] = {}
        crawler.signals.connect(self._response_downloaded, signal=signals.response_downloaded)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    # -- the hold, as soon as the response is in -------------------------------------

    def _response_downloaded(self, response: Response, request: Request) -> None:
        if response.status not in RETRY_AFTER_STATUSES:
            return
        header = response.headers.get(b"Retry-After")
        if header is None:
            return
        wait = retry_after_seconds(
            header, now=datetime.now(UTC), server_date=response.headers.get(b"Date")
        )
        if wait is None:
            self.crawler.stats.inc_value(f"{STATS}/invalid")
            logger.debug(
                "Unreadable Retry-After %(value)r from %(url)s",
                {"value": header, "url": response.url},
            )
            return
        request.meta[WAIT_META] = wait
        key = request.meta.get(Downloader.DOWNLOAD_SLOT)
        if wait <= self.max_wait and key is not None:
            self._hold(key, wait, response)

    def _hold(self, key: str, wait: float, response: Response) -> None:
        downloader = self.crawler.engine.downloader
        slot = downloader.slots.get(key)
        until = monotonic() + wait
        if slot is None or until <= self._holds.get(key, 0.0):
            return  # a hold that ends later is already on
        self._holds[key] = until
        slot.lastseen = max(slot.lastseen, until)
        if slot.latercall is not None:
            slot.latercall.cancel()
        slot.latercall = call_later(wait, self._release, key, slot)
        stats = self.crawler.stats
        stats.inc_value(f"{STATS}/count")
        stats.max_value(f"{STATS}/max_seconds", wait)
        waited = f"{STATS}/seconds/{key}"
        stats.set_value(waited, stats.get_value(waited, 0) + wait)
        logger.info(
            "Holding requests to %(host)s for %(wait)g s: %(url)s answered %(status)d "
            "with Retry-After",
            {"host": key, "wait": wait, "url": response.url, "status": response.status},
        )

    def _release(self, key: str, slot: Slot) -> None:
        self._holds.pop(key, None)
        slot.latercall = None
        # Scrapy 2.19 has no public call to wake a slot; this is what its own timer calls.
        self.crawler.engine.downloader._process_queue(slot)

    # -- the retry -------------------------------------------------------------------

    def process_response(self, request: Request, response: Response) -> Request | Response:
        wait: float | None = request.meta.pop(WAIT_META, None)
        if wait is None or not self.retry_enabled or request.meta.get("dont_retry", False):
            return response
        max_retry_times = request.meta.get("max_retry_times", self.max_retry_times)
        if request.meta.get("retry_times", 0) >= max_retry_times:
            return response  # Scrapy's RetryMiddleware gives up on it, logs and counts that
        if wait > self.max_wait:
            self.crawler.stats.inc_value(f"{STATS}/over_cap")
            reason = (
                f"HTTP {response.status} with Retry-After {wait:g} s, over "
                f"ARCHIVER_MAX_RETRY_AFTER ({self.max_wait:g} s): not retried"
            )
            logger.info("Gave up on %(url)s: %(reason)s", {"url": request.url, "reason": reason})
            raise IgnoreRequest(reason)
        assert self.crawler.spider is not None
        retry = get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=response_status_message(response.status),
            max_retry_times=max_retry_times,
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
        )
        return retry or response
