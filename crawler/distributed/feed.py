"""The feeder's side of a distributed crawl: an input's entries into the shared frontier.

``archiver crawl INPUT --redis URL`` runs the ``urls`` spider with
``ARCHIVER_FRONTIER_FEED``: it reads INPUT as a crawl does, records the lines
it cannot use (invalid, duplicate) in its own archive folder as a crawl does,
and hands every other entry to a :class:`FrontierFeed` instead of Scrapy's
scheduler. The workers (``archiver worker``) crawl them. Feeding streams: a
batch of entries is one round trip, and the frontier's seen set, not the
feeder's memory, keeps an entry from being queued twice when a feed is run
again (a feeder that died goes on where it was). With
``ARCHIVER_FRONTIER_MAX_QUEUED`` the feed waits while the queue holds that many
entries (it may pass it by one batch, :data:`FEED_BATCH`): Redis then holds the
seen set and a bounded queue, not the whole list, and the feed ends only once
the workers have taken all but the last of it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, NoReturn

from redis.exceptions import RedisError
from scrapy.exceptions import CloseSpider

from crawler.distributed.frontier import Frontier, encode_entry, input_digest, seen_key
from crawler.inputs import InputError

if TYPE_CHECKING:
    from scrapy.statscollectors import StatsCollector

    from crawler.inputs import Seed

logger = logging.getLogger(__name__)

#: Entries sent to Redis in one round trip.
FEED_BATCH = 500
FED_STAT = "archiver/frontier/fed"
#: Entries that an earlier feed of the same run queued already.
FED_BEFORE_STAT = "archiver/frontier/fed_before"
#: How often a feed held back by ARCHIVER_FRONTIER_MAX_QUEUED looks at the queue again (s).
QUEUE_POLL = 1.0
#: The close reason of a feed that Redis stopped answering: feeding again goes on.
FRONTIER_ERROR = "archiver_frontier_error"


class FrontierFeed:
    """Feeds one input's entries into the frontier at ``url``, a batch at a time."""

    def __init__(
        self,
        url: str,
        input_path: str,
        source: str,
        stats: StatsCollector,
        *,
        max_queued: int = 0,
    ) -> None:
        self.frontier = Frontier(url)
        #: Feed no more while the queue holds this many entries; 0: no limit.
        self.max_queued = max_queued
        self.input_path = input_path
        self.source = source
        self.stats = stats
        self.run = ""
        self._pending: list[tuple[bytes, str]] = []

    async def begin(self) -> None:
        """Open this input's run.

        FrontierBusyError if another input's run is not over, or this input's but the
        file changed since (:func:`~crawler.distributed.frontier.input_digest`);
        InputError if the file cannot be read.
        """
        try:
            digest = input_digest(self.input_path)
        except OSError as exc:
            raise InputError(f"cannot read {self.source}: {exc}") from None
        try:
            self.run, new = await self.frontier.begin(
                self.input_path, self.source, f"r{secrets.token_hex(4)}", digest
            )
        except RedisError as exc:
            await self._failed(exc)
        self.stats.set_value(FED_STAT, 0)
        self.stats.set_value(FED_BEFORE_STAT, 0)
        logger.info(
            "%(how)s run %(run)s of %(input)s in the frontier at %(url)s",
            {
                "how": "Feeding" if new else "Going on feeding",
                "run": self.run,
                "input": self.source,
                "url": self.frontier.url,
            },
        )

    async def add(self, seed: Seed) -> None:
        self._pending.append((seen_key(seed), encode_entry(seed, self.source)))
        if len(self._pending) >= FEED_BATCH:
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            while self.max_queued and (await self.frontier.state()).queued >= self.max_queued:
                await asyncio.sleep(QUEUE_POLL)
            new = await self.frontier.feed(batch)
        except RedisError as exc:
            await self._failed(exc)
        self.stats.inc_value(FED_STAT, new)
        self.stats.inc_value(FED_BEFORE_STAT, len(batch) - new)

    async def finish(self) -> None:
        """Feed what is left and mark the input fed whole: workers may end once it is done."""
        await self.flush()
        try:
            await self.frontier.fed()
        except RedisError as exc:
            await self._failed(exc)
        logger.info(
            "Fed %(fed)d entries of %(input)s into the frontier at %(url)s, run %(run)s "
            "(%(before)d fed before); archiver worker --redis %(url)s crawls them",
            {
                "fed": self.stats.get_value(FED_STAT, 0),
                "before": self.stats.get_value(FED_BEFORE_STAT, 0),
                "input": self.source,
                "url": self.frontier.url,
                "run": self.run,
            },
        )

    async def close(self) -> None:
        await self.frontier.close()

    async def _failed(self, exc: RedisError) -> NoReturn:
        """Stop the feed: log why, close the client, close the crawl (not "finished")."""
        await self.frontier.close()
        logger.error(
            "Could not feed the frontier at %(url)s: %(error)s; feeding %(input)s again goes "
            "on where this feed stopped",
            {"url": self.frontier.url, "error": exc, "input": self.source},
            exc_info=True,
        )
        raise CloseSpider(FRONTIER_ERROR)
