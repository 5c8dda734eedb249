"""How far the crawl is: entries done of the input's total, failures, speed, time left.

An entry is done when it has an outcome (the seed pipeline counts them in the
stats ``archiver/seeds/<outcome>``); it failed when that outcome is one of
:func:`crawler.exitcodes.failed_entries`. The total is the input's entry count,
made in a thread at the start (:mod:`crawler.inputcount`; unknown for standard
input, then there is no total and no time left), less the entries ``--resume``
skips (the spider's stat :data:`~crawler.spiders.urls.RESUME_SKIPPED_STAT`).

On a terminal (standard error is one) a progress bar shows it, redrawn every
:data:`BAR_REFRESH` seconds below the log lines (:mod:`crawler.terminal`).
Otherwise (a log file, cron, Scrapyd) a line is logged at INFO every
``ARCHIVER_PROGRESS_INTERVAL`` seconds (60; 0 turns progress off)::

    Progress: 1,234 of 10,000 entries (12.3%), 56 failed, 4.1 entries/s, about 35m left

The speed is the average since the crawl started; the time left is the entries
left at that speed. With ``--logfile`` on a terminal there are both: the bar on
the terminal, the lines in the file. The total, when it was counted, is kept in
the stat :data:`TOTAL_STAT` at the end (before the crawl's stats are archived).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

from crawler.durations import format_duration
from crawler.exitcodes import FINISHED, SEED_STATS_PREFIX, failed_entries
from crawler.inputcount import EntryCounter
from crawler.outcomes import InputOutcome
from crawler.spiders.urls import RESUME_SKIPPED_STAT
from crawler.terminal import TerminalBar, stderr_is_terminal

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

#: How often the progress bar is redrawn, in seconds.
BAR_REFRESH = 0.5
#: The crawl's total of input entries, when it was known (this crawl's share under --resume).
TOTAL_STAT = "archiver/progress/total"


def entries_done(stats: Mapping[str, Any]) -> int:
    """Input entries with an outcome so far."""
    counts = (stats.get(SEED_STATS_PREFIX + outcome) for outcome in InputOutcome)
    return sum(count for count in counts if isinstance(count, int))


def entries_failed(stats: Mapping[str, Any]) -> int:
    """Input entries whose outcome is a failure, so far."""
    return sum(failed_entries(stats).values())


def time_left(seconds: float) -> str:
    """A time left, as precise as an estimate deserves: ``40s``, ``35m``, ``2h5m``."""
    if seconds < 60:
        return format_duration(max(10.0, round(seconds / 10) * 10))
    return format_duration(round(seconds / 60) * 60)


def progress_line(done: int, total: int | None, failed: int, elapsed: float) -> str:
    """The progress line of the log, from the counts and the seconds since the start."""
    rate = done / elapsed if elapsed > 0 else 0.0
    if total is None:
        where = f"{done:,} entries"
    else:
        share = 100.0 * done / total if total else 100.0
        where = f"{done:,} of {total:,} entries ({share:.1f}%)"
    line = f"Progress: {where}, {failed:,} failed, {rate:.1f} entries/s"
    if total is not None and rate > 0 and done < total:
        line += f", about {time_left((total - done) / rate)} left"
    return line


class Progress:
    """Shows the crawl's progress: a bar on a terminal, a log line elsewhere."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.interval = settings.getfloat("ARCHIVER_PROGRESS_INTERVAL")
        if self.interval < 0:
            raise ValueError(
                "ARCHIVER_PROGRESS_INTERVAL must be a number of seconds, or 0 for no progress, "
                f"not {self.interval:g}"
            )
        if not self.interval:
            raise NotConfigured("ARCHIVER_PROGRESS_INTERVAL is 0")
        logs = settings.getbool("LOG_ENABLED")
        #: A bar on the terminal, and the lines wherever the log does not go to that terminal.
        self.wants_bar = logs and stderr_is_terminal()
        self.wants_lines = logs and (not self.wants_bar or bool(settings.get("LOG_FILE")))
        self.counter: EntryCounter | None = None
        self.bar: TerminalBar | None = None
        self.started = 0.0
        self._tasks: list[Any] = []
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def spider_opened(self, spider: Spider) -> None:
        self.started = time.monotonic()
        path = getattr(spider, "input_path", None)
        if isinstance(path, str):
            self.counter = EntryCounter(path).start()
        if self.wants_bar:
            self.bar = TerminalBar(None)
            self._every(BAR_REFRESH, self.show_bar)
        if self.wants_lines:
            self._every(self.interval, self.log_line)

    def _every(self, seconds: float, call: Any) -> None:
        task = create_looping_call(call)
        task.start(seconds, now=False)
        self._tasks.append(task)

    # -- the figures ----------------------------------------------------------

    def total(self) -> int | None:
        """This crawl's input entries, once counted: the input's less those --resume skips."""
        if self.counter is None or self.counter.count is None:
            return None
        skipped = self.crawler.stats.get_value(RESUME_SKIPPED_STAT, 0)
        return max(self.counter.count - skipped, self.done())

    def done(self) -> int:
        return entries_done(self.crawler.stats.get_stats())

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # -- showing them ---------------------------------------------------------

    def log_line(self) -> None:
        stats = self.crawler.stats.get_stats()
        line = progress_line(
            entries_done(stats), self.total(), entries_failed(stats), self.elapsed()
        )
        logger.info("%(line)s", {"line": line})

    def show_bar(self, *, final_total: int | None = None) -> None:
        if self.bar is None:
            return
        stats = self.crawler.stats.get_stats()
        total = final_total if final_total is not None else self.total()
        self.bar.show(entries_done(stats), total, entries_failed(stats))

    def spider_closed(self, spider: Spider, reason: str) -> None:
        for task in self._tasks:
            if task.running:
                task.stop()
        self._tasks.clear()
        total = self.total()
        if self.counter is not None:
            self.counter.stop()
        if total is not None:
            self.crawler.stats.set_value(TOTAL_STAT, total)
        if self.bar is not None:
            # A crawl that reached its end did its whole input, whatever the estimate said.
            self.show_bar(final_total=self.done() if reason == FINISHED else total)
            self.bar.close()
            self.bar = None
