"""Log the end report of every crawl, and write it as JSON into the archive folder.

The report (:mod:`crawler.report`) is made once the engine has stopped
(``engine_stopped``): by then :class:`~crawler.extensions.archive.ArchiveExtension`
has ended the crawl (its ``spider_closed`` recorded the crawl's end and closed
the index), so the index is read, read-only, as the crawl left it. The stats
are taken then too, after every ``spider_closed`` handler (ArchiveExtension's
may wait for records still being written): its faults at the end count.

A report that cannot be written costs a warning and the stat
:data:`WRITE_ERRORS_STAT`; the crawl and its exit code are not changed by it.
``ARCHIVER_REPORT_ENABLED = False`` turns the report off.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler.changes import NOT_FAILURES, reason_group
from crawler.extensions.archive import ArchiveExtension
from crawler.extensions.progress import TOTAL_STAT
from crawler.index import read_only
from crawler.inputs import CREDENTIALS_SENT
from crawler.layout import Layout
from crawler.report import (
    EXAMPLES_PER_GROUP,
    GROUPS_SHOWN,
    IndexFacts,
    build_report,
    failure_groups,
    render_report,
    write_report,
)

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

#: Counts the reports that could not be written.
WRITE_ERRORS_STAT = "archiver/report/write_errors"


class CrawlReport:
    """Reports how the crawl went, in the log and in ``DIR/reports``."""

    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("ARCHIVER_REPORT_ENABLED"):
            raise NotConfigured("ARCHIVER_REPORT_ENABLED is off")
        self.crawler = crawler
        self.layout = Layout.of(crawler.settings)
        self.stats: dict[str, Any] = {}
        self.closed = False
        self.reason = ""
        self.spider = ""
        self.crawl_id: int | None = None
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.engine_stopped, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        self.closed = True
        self.reason = reason
        self.spider = spider.name
        archive = self.crawler.get_extension(ArchiveExtension)
        if archive is not None and archive.archive is not None:
            self.crawl_id = archive.archive.crawl_id

    def engine_stopped(self) -> None:
        if not self.closed:
            return  # the spider never opened: nothing was crawled
        # Taken now, not at spider_closed: the other spider_closed handlers (the archive's
        # end, which may wait for records still being written) have all run by now.
        self.stats = dict(self.crawler.stats.get_stats())
        groups = [group for group, _ in failure_groups(self.stats)[:GROUPS_SHOWN]]
        facts = index_facts(self.layout, self.crawl_id, groups)
        total = self.stats.get(TOTAL_STAT)
        report = build_report(
            crawl_id=self.crawl_id,
            spider=self.spider,
            reason=self.reason,
            stats=self.stats,
            facts=facts,
            layout=self.layout,
            total=total if isinstance(total, int) else None,
        )
        written: Path | None = None
        try:
            written = write_report(self.layout, report)
        except OSError as exc:
            logger.warning(
                "Could not write the crawl report into %(dir)s: %(error)s",
                {"dir": self.layout.reports_dir, "error": exc},
                exc_info=True,
            )
            self.crawler.stats.inc_value(WRITE_ERRORS_STAT)
        logger.info("%(report)s", {"report": render_report(report, written)})


def index_facts(layout: Layout, crawl_id: int | None, groups: list[str]) -> IndexFacts:
    """What the index says of crawl ``crawl_id``: its row, its WARC files, failure examples.

    Examples are looked for only for ``groups``; the crawl's failures are read in
    input order until each has :data:`~crawler.report.EXAMPLES_PER_GROUP`.
    """
    facts = IndexFacts()
    if crawl_id is None:
        facts.problem = "the crawl has no number: its archive was not opened"
        return facts
    try:
        # The crawl's own folder, still locked: tidy, so no WAL files are left behind.
        db = read_only(layout.index, tidy=True)
    except sqlite3.Error as exc:
        facts.problem = str(exc)
        return facts
    try:
        _read_crawl(db, crawl_id, facts)
        _read_warc_files(db, crawl_id, layout, facts)
        _read_examples(db, crawl_id, groups, facts)
    except sqlite3.Error as exc:
        facts.problem = str(exc)
    finally:
        db.close()
    return facts


def _read_crawl(db: sqlite3.Connection, crawl_id: int, facts: IndexFacts) -> None:
    row = db.execute(
        "SELECT started_at, finished_at, input FROM crawls WHERE id = ?", (crawl_id,)
    ).fetchone()
    if row is not None:
        facts.started_at, facts.finished_at, facts.input = tuple(row)


def _read_warc_files(
    db: sqlite3.Connection, crawl_id: int, layout: Layout, facts: IndexFacts
) -> None:
    rows = db.execute(
        "SELECT DISTINCT warc_file FROM captures WHERE crawl_id = ? ORDER BY warc_file",
        (crawl_id,),
    )
    for (name,) in rows:
        path = layout.warc_dir / name
        if path.parent != layout.warc_dir:
            continue  # a replayed capture's file, in the archive it came from
        try:
            size: int | None = path.stat().st_size
        except OSError:
            size = None
        facts.warc_files.append((name, size))


def _read_examples(
    db: sqlite3.Connection, crawl_id: int, groups: list[str], facts: IndexFacts
) -> None:
    wanted: dict[str, list[str]] = {group: [] for group in groups}
    left = len(wanted)
    marks = ", ".join("?" * len(NOT_FAILURES))
    rows = db.execute(
        f"SELECT url, reason FROM seeds WHERE crawl_id = ? AND outcome NOT IN ({marks}) "
        "ORDER BY position",
        (crawl_id, *sorted(NOT_FAILURES)),
    )
    for url, recorded in rows:
        if not left:
            break
        # The seed pipeline groups the reason as the entry got it, before this note.
        reason = (recorded or "").removesuffix(f"; {CREDENTIALS_SENT}")
        examples = wanted.get(reason_group(reason))
        if examples is not None and len(examples) < EXAMPLES_PER_GROUP:
            examples.append(url)
            left -= len(examples) == EXAMPLES_PER_GROUP
    facts.examples = wanted
