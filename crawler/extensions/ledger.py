"""Every input entry handed to the crawl ends with an outcome, whatever component drops it.

The ``urls`` spider tells the ledger of each entry it hands to Scrapy, as a
request or as an item (:meth:`InputLedger.expect`), and the entry leaves the
ledger when :class:`~crawler.pipelines.seeds.SeedIndexPipeline` records its
outcome (:meth:`InputLedger.settle`). In between, a component may drop it:

- the scheduler refuses its request (``request_dropped``: its dupe filter);
- an item pipeline before the seed index raises ``DropItem`` (``item_dropped``)
  or fails (``item_error``);
- a spider middleware returns nothing for it (Scrapy's ``UrlLengthMiddleware``,
  ``DepthMiddleware``, ``OffsiteMiddleware``, or one of the user's own), with no
  signal at all.

The signalled drops give the entry the outcome ``dropped`` at once, with their
reason. The silent ones are found when the engine is idle (``spider_idle``):
nothing is scheduled, downloading or being scraped, and the spider has read its
input to the end, so an entry still in the ledger was lost by some component; it
gets ``dropped`` with :data:`LOST_REASON` and a warning. A crawl that stops before
(Ctrl-C, an archive that could not write, a ``CLOSESPIDER_*`` limit) leaves its
pending entries without an outcome: ``--resume`` fetches them.

The ledger holds only the entries in flight (those Scrapy holds as requests or
items at that moment), never the whole input. It also bounds them: the spider
awaits :meth:`InputLedger.room` before it hands over an entry, so that at most
``ARCHIVER_START_AHEAD`` entries are read from the input and not yet settled
(Scrapy itself reads ``start()`` to its end into the scheduler whenever the
downloader is busy, so a crawl would otherwise grow with its input). The most
entries in flight at once are in the stat :data:`AHEAD_STAT`. While the spider
waits for room, the entries that some component lost silently would keep it
waiting, and the engine, still reading its start, never goes idle: so each time
the scheduler runs dry (``scheduler_empty``) with nothing downloading or being
scraped, the entries left in the ledger are lost, as at the end of the input.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from scrapy import signals

from crawler.extensions.archive import ArchiveExtension
from crawler.failures import describe
from crawler.inputs import Rejected
from crawler.items import EntryItem, Page, SeedOutcome
from crawler.meta import SEED_META
from crawler.outcomes import InputOutcome

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

    from crawler.inputs import Entry

logger = logging.getLogger(__name__)

#: The reason of an entry that some component dropped without a signal or an error.
LOST_REASON = "dropped by a crawl component without an error; see the log"
#: The reason of an entry whose request the scheduler refused.
SCHEDULER_REASON = "dropped by the scheduler (its duplicate filter); see the log"
#: How the reasons of drops by item pipelines begin (the pipeline's own words follow).
PIPELINE_DROP = "dropped by an item pipeline"
PIPELINE_ERROR = "dropped after an item pipeline error"
#: The stat of the most entries in flight at once (read, not yet settled).
AHEAD_STAT = "archiver/input/most_ahead"


class InputLedger:
    """Keeps the input entries in flight and gives an outcome to those a component drops."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        #: In flight, in the order they were handed over (a dict keeps it).
        self._pending: dict[Entry, None] = {}
        self._record: Callable[[SeedOutcome], EntryItem] | None = None
        self._input_read = False
        #: Most entries in flight; 0: no limit.
        self.ahead = crawler.settings.getint("ARCHIVER_START_AHEAD")
        if self.ahead < 0:
            raise ValueError(f"ARCHIVER_START_AHEAD must be 0 or more, not {self.ahead}")
        self._space = asyncio.Event()
        self._waiting = False
        crawler.signals.connect(self.request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(self.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(self.item_error, signal=signals.item_error)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.scheduler_empty, signal=signals.scheduler_empty)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    # -- what the spider and the seed index tell it -----------------------------

    def attach(self, record: Callable[[SeedOutcome], EntryItem]) -> None:
        """Record dropped entries with ``record``: the seed index's own way of recording.

        The item it gives is sent with ``item_scraped``, so that feed exports hold
        dropped entries too.
        """
        self._record = record

    def expect(self, entry: Entry) -> None:
        """``entry`` is being handed to Scrapy: it must come back with an outcome.

        Without the seed index (no :meth:`attach`) nothing records outcomes, so
        nothing is kept.
        """
        if self._record is not None:
            self._pending[entry] = None
            self.crawler.stats.max_value(AHEAD_STAT, len(self._pending))

    async def room(self) -> None:
        """Return once one more entry may be handed over: fewer than ARCHIVER_START_AHEAD
        are in flight (at once with no limit, or with no seed index: nothing is kept then).

        A crawl that stops meanwhile cancels the wait, with the rest of the spider's start.
        """
        while self._full():
            if self._stuck():
                self._lose_pending()  # not when the archive failed: the crawl is stopping
                if not self._full():
                    return
            self._space.clear()
            self._waiting = True
            try:
                await self._space.wait()
            finally:
                self._waiting = False

    def _full(self) -> bool:
        return 0 < self.ahead <= len(self._pending) and self._record is not None

    def input_read(self) -> None:
        """The spider has handed over its whole input: what is left at idle was lost."""
        self._input_read = True

    def settle(self, entry: Entry) -> bool:
        """``entry`` has its outcome; whether it was in flight."""
        settled = self._pending.pop(entry, False) is None
        if settled and self._waiting and not self._full():
            self._space.set()
        return settled

    # -- drops --------------------------------------------------------------------

    def request_dropped(self, request: Request) -> None:
        entry: Entry | None = request.meta.get(SEED_META)
        if entry is not None:
            self._drop(SeedOutcome(entry, InputOutcome.DROPPED, SCHEDULER_REASON, url=request.url))

    def item_dropped(self, item: Any, exception: BaseException) -> None:
        # DropItem's message is the pipeline's reason, as Scrapy logs it.
        self._drop_item(item, f"{PIPELINE_DROP}: {exception}" if str(exception) else PIPELINE_DROP)

    def item_error(self, item: Any, failure: Failure) -> None:
        error = failure.value
        self._drop_item(item, f"{PIPELINE_ERROR}: {describe(error) if error else 'unknown'}")

    def _drop_item(self, item: Any, reason: str) -> None:
        if isinstance(item, Page):
            self._drop(
                SeedOutcome(
                    item.seed,
                    InputOutcome.DROPPED,
                    reason,
                    item.capture,
                    item.url,
                    text_path=item.text_path,
                )
            )
        elif isinstance(item, SeedOutcome):
            was = f"{reason} (was {item.outcome}: {item.reason})"
            self._drop(replace(item, outcome=InputOutcome.DROPPED, reason=was))

    def spider_idle(self) -> None:
        if self._input_read:
            self._lose_pending()

    def scheduler_empty(self) -> None:
        # The engine is not idle while it reads the spider's start, so spider_idle would
        # never come while the spider waits for room; the engine sends this signal whenever
        # it finds the scheduler empty, on its heartbeat at least every 5 seconds.
        if self._waiting and self._stuck():
            self._lose_pending()

    def _stuck(self) -> bool:
        """Entries are pending, and nothing is scheduled, downloading or being scraped.

        What ``ExecutionEngine.spider_is_idle`` checks, but for the spider's start,
        which holds no entry while it waits for room.
        """
        engine = self.crawler.engine
        if not self._pending or engine is None or engine.downloader.active:
            return False
        scheduler, scraping = engine.scheduler, engine.scraper.slot
        if scheduler is None or scheduler.has_pending_requests():
            return False
        return scraping is not None and scraping.is_idle()

    def _lose_pending(self) -> None:
        """Nothing is in flight: the entries still pending were dropped without a word."""
        if not self._pending:
            return
        archive = self.crawler.get_extension(ArchiveExtension)
        if archive is not None and archive.failed:
            return  # the crawl is stopping: the entries are for --resume
        for entry in list(self._pending):
            self.crawler.stats.inc_value("archiver/input/lost")
            reason = LOST_REASON
            if isinstance(entry, Rejected):
                reason = f"{reason} (was {entry.kind}: {entry.reason})"
            self._drop(SeedOutcome(entry, InputOutcome.DROPPED, reason))

    def _drop(self, outcome: SeedOutcome) -> None:
        entry = outcome.seed
        if not self.settle(entry):
            return  # not an input entry, or its outcome is recorded already
        logger.warning(
            "Dropped %(source)s:%(line)d %(url)s: %(reason)s",
            {
                "source": entry.source,
                "line": entry.line,
                "url": entry.text if isinstance(entry, Rejected) else entry.url,
                "reason": outcome.reason,
            },
        )
        assert self._record is not None  # nothing is pending without it
        item = self._record(outcome)
        self.crawler.signals.send_catch_log(
            signals.item_scraped, item=item, response=None, spider=self.crawler.spider
        )
