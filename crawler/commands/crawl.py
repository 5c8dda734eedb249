"""``scrapy crawl``, checking the spider's input before anything starts.

Unreadable input is a usage error: one line on standard error, exit code 2,
nothing written, not even the log banner; so is an option the command does not
know. The crawl holds the archive folder's lock (:mod:`crawler.lock`) from
before anything is written to its end: a folder in use is a usage error. The
exit code says how the crawl ended (:mod:`crawler.exitcodes`): 0 when it
reached its end with every input entry archived (or skipped as a duplicate or
as not due), 3 when some entries failed, 1 when it stopped before its end or
had a fault to look at, 2 for a bad command line. With ``ARCHIVER_QUIET`` (the
default) Scrapy's start-up banner, settings and component lists are logged at
DEBUG (:mod:`crawler.quiet`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.spiderloader import get_spider_loader

from crawler.addons import output_dir
from crawler.commands import check_settings, usage_error
from crawler.exitcodes import crawl_exit_code, explain
from crawler.inputs import InputError
from crawler.layout import Layout
from crawler.lock import FolderLock, LockError, lock_for_crawl
from crawler.quiet import quiet_scrapy
from crawler.usage import option_strings, unknown_option, unknown_options

if TYPE_CHECKING:
    import argparse

    from scrapy import Spider

logger = logging.getLogger(__name__)


class Command(ScrapyCrawlCommand):
    folder_lock: FolderLock | None = None
    known_options: tuple[str, ...] = ()

    def short_desc(self) -> str:
        return "Archive the URLs of a list or a corpus folder: WARC files, text, index"

    def long_desc(self) -> str:
        return (
            "Run a spider of the project by name. The spider 'urls' archives every URL of "
            "-a urls=INPUT (a URL list, a corpus folder, or - for standard input) into the "
            "archive folder ARCHIVER_DIR; 'archiver crawl INPUT' is the same crawl with "
            "options of its own (see 'archiver crawl --help'). -o and -O write Scrapy feeds. "
            "Exit code 0 when the crawl reached its end and every input entry was archived "
            "(or skipped as a duplicate or not due), 3 when some entries failed, 1 when it "
            "stopped before its end or had a fault to look at, 2 for a bad command line."
        )

    def examples(self) -> list[str]:
        return [
            "scrapy crawl urls -a urls=urls.txt",
            "scrapy crawl urls -a urls=urls.txt -s ARCHIVER_DIR=/data/crawl -L WARNING",
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        self.known_options = option_strings(parser)

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        unknown = unknown_options(args)
        if unknown:
            usage_error(unknown_option(unknown[0], self.known_options))
        assert self.settings is not None
        try:
            quiet = self.settings.getbool("ARCHIVER_QUIET")
        except ValueError:
            usage_error(
                f"ARCHIVER_QUIET must be True or False, not {self.settings['ARCHIVER_QUIET']!r}"
            )
        if quiet:
            # Before Scrapy logs its banner: the crawler process is made after this method.
            quiet_scrapy()
        if len(args) != 1:
            return
        check_settings(self.settings)
        try:
            spidercls = get_spider_loader(self.settings).load(args[0])
        except KeyError:
            return  # Scrapy's own crawl reports unknown spiders
        check = getattr(spidercls, "check_arguments", None)
        if check is not None:
            try:
                check(opts.spargs, self.settings)
            except InputError as exc:
                usage_error(str(exc))
        # Last, so that a usage error above leaves no folder behind.
        try:
            self.folder_lock = lock_for_crawl(Layout(output_dir(self.settings)).lock)
        except LockError as exc:
            usage_error(str(exc))

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            super().run(args, opts)
            return
        assert self.crawler_process is not None
        crawler = self._create_crawler(args[0])
        reasons: list[str] = []

        def closed(spider: Spider, reason: str, **kwargs: Any) -> None:
            reasons.append(reason)

        crawler.signals.connect(closed, signal=signals.spider_closed, weak=False)
        if self.folder_lock is not None:
            self.folder_lock.log_takeover()
        try:
            self.crawler_process.crawl(crawler, **opts.spargs)
            self.crawler_process.start()
        finally:
            if self.folder_lock is not None:
                self.folder_lock.release()
        stats = crawler.stats.get_stats() if crawler.stats is not None else {}
        if self.crawler_process.bootstrap_failed:
            reasons.append("bootstrap_failed")
        self.exitcode = crawl_exit_code(reasons, stats)
        why = explain(self.exitcode, reasons, stats)
        if why is not None:
            logger.warning("%(why)s", {"why": why})
