"""``scrapy crawl``, checking the spider's input before anything starts.

Unreadable input is a usage error: one line on standard error, exit code 2,
nothing written, not even the log banner. A crawl that stops for any reason but
reaching its end (a record that could not be archived, an interruption) exits
with code 1. The crawl holds the archive folder's lock (:mod:`crawler.lock`)
from before anything is written to its end: a folder in use is a usage error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.spiderloader import get_spider_loader

from crawler.addons import output_dir
from crawler.commands import check_settings, usage_error
from crawler.inputs import InputError
from crawler.layout import Layout
from crawler.lock import FolderLock, LockError, lock_for_crawl

if TYPE_CHECKING:
    import argparse

    from scrapy import Spider


class Command(ScrapyCrawlCommand):
    folder_lock: FolderLock | None = None

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if len(args) != 1:
            return
        assert self.settings is not None
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
        if self.crawler_process.bootstrap_failed or reasons != ["finished"]:
            self.exitcode = 1
