"""The ``frontier`` spider: a worker's crawl of the entries of a shared Redis frontier.

``archiver worker --redis URL -o DIR`` runs it (:mod:`crawler.commands.worker`);
``archiver crawl INPUT --redis URL`` feeds the frontier. Each entry is handled as
the ``urls`` spider handles an entry of its input, with the same identity
(position, line, source, corpus document), so the seed rows and text file names
of all workers together are those of a single-machine crawl of the input.

The spider leases at most ``ARCHIVER_FRONTIER_PREFETCH`` entries at a time
(:mod:`crawler.distributed.frontier`), renews the leases every third of
``ARCHIVER_FRONTIER_LEASE_TTL``, and acknowledges an entry only once its seed
row is committed to this worker's index (checked every
:data:`ACK_INTERVAL`): a worker killed before that leaves the entry leased,
and it is fetched again, by another worker once the lease runs out, or by this
one when it starts again on the same folder. Entries it still holds when it
stops early (Ctrl-C, a full disk) go back to the queue. It stops once the
whole input was fed and no entry is queued or leased anywhere, unless
``ARCHIVER_FRONTIER_KEEP_RUNNING``. It never takes an entry of another run
than the one it started on: when the frontier holds another run (the next
feed began) a worker with ``ARCHIVER_FRONTIER_KEEP_RUNNING`` stops with
:data:`RUN_CHANGED` (any other was done with its run anyway), and when it holds none (flushed,
or Redis restarted without persistence) with :data:`FRONTIER_LOST`; both are
exit code 1, and a worker started again serves the frontier's run of then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from scrapy import Spider, signals
from scrapy.exceptions import CloseSpider

from crawler.distributed.frontier import Frontier, RunChangedError, decode_entry
from crawler.extensions.archive import ArchiveExtension
from crawler.extensions.ledger import InputLedger
from crawler.inputs import InputError
from crawler.items import SeedOutcome
from crawler.meta import SEED_META
from crawler.spiders.urls import UrlsSpider

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

#: How often committed seed rows are looked for and their entries acknowledged (s).
ACK_INTERVAL = 1.0
#: The first wait before asking an empty frontier again (s); it doubles up to POLL_MAX.
POLL_FIRST = 0.1
POLL_MAX = 2.0
#: At most this many entries are leased in one round trip.
TAKE_BATCH = 100
#: The close reason of a worker whose frontier lost its run (flushed, Redis restarted
#: without persistence): exit code 1, as every reason but "finished".
FRONTIER_LOST = "archiver_frontier_lost"
#: The close reason of a worker whose frontier holds another run now (with
#: ARCHIVER_FRONTIER_KEEP_RUNNING: the next feed began): exit code 1; start it again.
RUN_CHANGED = "archiver_run_changed"
WORKER_USAGE = (
    "the frontier spider needs -a frontier_input=PATH -a frontier_source=SOURCE "
    "-a frontier_run=ID and ARCHIVER_REDIS_URL: run it with archiver worker --redis URL -o DIR"
)


class FrontierSpider(UrlsSpider):
    name = "frontier"
    redis_url = ""
    worker = ""
    prefetch = 64
    lease_ttl = 60.0
    keep_running = False

    def __init__(
        self,
        frontier_input: str | None = None,
        frontier_source: str | None = None,
        frontier_run: str | None = None,
        **kwargs: Any,
    ) -> None:
        Spider.__init__(self, **kwargs)
        if not (frontier_input and frontier_source and frontier_run):
            raise InputError(WORKER_USAGE)
        self.input = frontier_source  #: as the feeder was given it: the log and seed rows
        self.source = frontier_source
        self.run = frontier_run
        # One name per run for all the workers' crawls: a merge makes one run of them.
        self.input_path = f"{frontier_input}#run={frontier_run}"
        self.frontier: Frontier | None = None
        #: Positions leased to this worker and not yet acknowledged.
        self.held: set[int] = set()
        self._room = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.redis_url = settings.get("ARCHIVER_REDIS_URL") or ""
        spider.worker = settings.get("ARCHIVER_WORKER_ID") or ""
        spider.prefetch = settings.getint("ARCHIVER_FRONTIER_PREFETCH")
        spider.lease_ttl = settings.getfloat("ARCHIVER_FRONTIER_LEASE_TTL")
        spider.keep_running = settings.getbool("ARCHIVER_FRONTIER_KEEP_RUNNING")
        if not spider.redis_url or not spider.worker:
            raise InputError(WORKER_USAGE)
        if spider.prefetch < 1:
            raise ValueError(f"ARCHIVER_FRONTIER_PREFETCH must be 1 or more, not {spider.prefetch}")
        if not spider.lease_ttl > 0:
            raise ValueError(
                f"ARCHIVER_FRONTIER_LEASE_TTL must be a positive number of seconds, "
                f"not {spider.lease_ttl}"
            )
        # Connected before ArchiveExtension's (extensions are made after the spider): the
        # last acknowledgements are read from the index before it closes.
        crawler.signals.connect(spider._closing, signal=signals.spider_closed)
        return spider

    @classmethod
    def check_arguments(cls, arguments: Mapping[str, str], settings: BaseSettings) -> None:
        """The worker command checks the frontier itself (crawler.commands.worker)."""

    # -- input -------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        self.frontier = Frontier(self.redis_url, worker=self.worker)
        ledger = self.crawler.get_extension(InputLedger)
        await self._settle_own_leases()
        self._keeper = asyncio.ensure_future(self._keep_leases())
        poll = POLL_FIRST
        while True:
            room = self.prefetch - len(self.held)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                taken = await self.frontier.take(min(room, TAKE_BATCH), self.lease_ttl, self.run)
            except RunChangedError as exc:
                self._run_changed(exc.lost)
                break
            if taken:
                poll = POLL_FIRST
                for data in taken:
                    item = self._leased_item(data)
                    if item is None:
                        continue
                    if ledger is not None:
                        ledger.expect(
                            item.seed if isinstance(item, SeedOutcome) else item.meta[SEED_META]
                        )
                    yield item
                continue
            state = await self.frontier.state()
            if state.run is None or state.run.run != self.run:
                self._run_changed(state.run is None)
                break
            if state.over and not self.keep_running:
                logger.info(
                    "The frontier at %(url)s is done: run %(run)s of %(input)s fed, crawled "
                    "and acknowledged",
                    {"url": self.redis_url, "run": self.run, "input": self.input},
                )
                break
            await asyncio.sleep(poll)
            poll = min(poll * 2, POLL_MAX)
        if ledger is not None:
            ledger.input_read()

    def _run_changed(self, lost: bool) -> None:
        """The frontier holds another run, or none: CloseSpider unless this one is done.

        A new run begins only once the last is over, so a worker that would have stopped
        at the end of its run ends as "finished"; one that keeps running stops, to be
        started again on the new run.
        """
        if lost:
            logger.error(
                "The frontier at %(url)s holds no run any more (flushed, or Redis restarted "
                "without persistence): run %(run)s is lost; this worker stops. Feed the "
                "input again and start the workers again",
                {"url": self.redis_url, "run": self.run},
            )
            raise CloseSpider(FRONTIER_LOST)
        if not self.keep_running:
            logger.info(
                "The frontier at %(url)s is done with run %(run)s and holds the next run now",
                {"url": self.redis_url, "run": self.run},
            )
            return
        logger.error(
            "The frontier at %(url)s holds another run now, not run %(run)s that this worker "
            "crawled: it stops. Start it again to crawl the new run",
            {"url": self.redis_url, "run": self.run},
        )
        raise CloseSpider(RUN_CHANGED)

    def _leased_item(self, data: bytes) -> Any:
        """The request or outcome of a leased entry; None (and a warning) for garbage."""
        try:
            entry = decode_entry(data, self.source)
        except ValueError as exc:
            # Not ours to judge: left leased, it returns to the queue when the lease runs out.
            logger.error("Skipped an entry of the frontier at %s: %s", self.redis_url, exc)
            self.crawler.stats.inc_value("archiver/frontier/unreadable")
            return None
        if entry.position in self.held:
            # Already in this crawl's hands: fetched once.
            return None
        self.held.add(entry.position)
        self.crawler.stats.inc_value("archiver/frontier/leased")
        return self._start_item(entry)

    # -- leases ------------------------------------------------------------------

    async def _settle_own_leases(self) -> None:
        """What this worker held when it last stopped: done if its index says so, else freed."""
        assert self.frontier is not None
        owned = await self.frontier.owned()
        if not owned:
            return
        done = self._recorded_before(owned)
        acked = await self.frontier.ack(sorted(done))
        released = await self.frontier.release(sorted(set(owned) - done))
        logger.info(
            "This worker held %(owned)d entries when it last stopped: %(acked)d were done, "
            "%(released)d went back to the queue",
            {"owned": len(owned), "acked": acked, "released": released},
        )

    def _recorded_before(self, positions: list[int]) -> set[int]:
        """The positions that earlier crawls of this run in this folder recorded."""
        archive = self._archive()
        if archive is None:
            return set()
        marks = ", ".join("?" * len(positions))
        rows = archive.index.query(
            "SELECT DISTINCT s.position FROM seeds s JOIN crawls c ON c.id = s.crawl_id "
            f"WHERE c.spider = ? AND c.input = ? AND s.outcome != 'incomplete' "
            f"AND s.position IN ({marks})",
            (self.name, self.input_path, *positions),
        )
        return {row[0] for row in rows}

    def _archive(self) -> Any:
        extension = self.crawler.get_extension(ArchiveExtension)
        if extension is None or extension.archive is None or extension.failed:
            return None
        return extension.archive

    def _committed(self) -> tuple[set[int], set[int]]:
        """Of the held entries, those done and those left ``incomplete``, once committed."""
        archive = self._archive()
        if archive is None or not self.held:
            return set(), set()
        archive.index.commit()
        held = sorted(self.held)
        marks = ", ".join("?" * len(held))
        rows = archive.index.query(
            f"SELECT position, outcome FROM seeds WHERE crawl_id = ? AND position IN ({marks})",
            (archive.crawl_id, *held),
        )
        done: set[int] = set()
        incomplete: set[int] = set()
        for position, outcome in rows:
            (incomplete if outcome == "incomplete" else done).add(position)
        return done, incomplete - done

    async def _settle(self, done: set[int], incomplete: set[int]) -> None:
        assert self.frontier is not None
        if done:
            await self.frontier.ack(sorted(done))
            self.crawler.stats.inc_value("archiver/frontier/acked", len(done))
        if incomplete:
            # Its text could not be written: another attempt may do better.
            await self.frontier.release(sorted(incomplete))
            self.crawler.stats.inc_value("archiver/frontier/released", len(incomplete))
        if done or incomplete:
            self.held -= done | incomplete
            self._room.set()

    async def _keep_leases(self) -> None:
        """Acknowledge what is committed, and renew the rest, until the crawl ends."""
        assert self.frontier is not None
        since_renewal = 0.0
        while True:
            await asyncio.sleep(ACK_INTERVAL)
            since_renewal += ACK_INTERVAL
            try:
                await self._settle(*self._committed())
                if since_renewal >= self.lease_ttl / 3:
                    since_renewal = 0.0
                    await self.frontier.renew(self.held, self.lease_ttl)
            except Exception:
                self.crawler.stats.inc_value("archiver/frontier/errors")
                logger.warning(
                    "Could not acknowledge or renew this worker's %(count)d leases in Redis: "
                    "they return to the queue %(ttl)g s after their last renewal",
                    {"count": len(self.held), "ttl": self.lease_ttl},
                    exc_info=True,
                )

    async def _closing(self, spider: Spider, reason: str) -> None:
        # Read before the first await: ArchiveExtension closes the index after this.
        done, incomplete = self._committed()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self.frontier is None:
            return
        try:
            await self._settle(done, incomplete)
            if self.held:
                released = await self.frontier.release(sorted(self.held))
                logger.info(
                    "%(count)d entries this worker held went back to the queue",
                    {"count": released},
                )
                self.held.clear()
        except Exception:
            self.crawler.stats.inc_value("archiver/frontier/errors")
            logger.warning(
                "Could not hand back this worker's leases: they return to the queue %(ttl)g s "
                "after their last renewal",
                {"ttl": self.lease_ttl},
                exc_info=True,
            )
        finally:
            await self.frontier.close()
