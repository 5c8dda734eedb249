"""``scrapy crawl``, checking the spider's input before the crawl starts.

Unreadable input is a usage error: one line on standard error, exit code 2,
nothing written. A crawl that stops for any reason but reaching its end (a
record that could not be archived, an interruption) exits with code 1.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from crawler.inputs import InputError

if TYPE_CHECKING:
    import argparse

    from scrapy import Spider


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            super().run(args, opts)
            return
        assert self.crawler_process is not None
        try:
            spidercls = self.crawler_process.spider_loader.load(args[0])
        except KeyError:
            raise UsageError(f"no spider named {args[0]!r}", print_help=False) from None
        check = getattr(spidercls, "check_arguments", None)
        if check is not None:
            try:
                check(opts.spargs)
            except InputError as exc:
                print(f"error: {exc}", file=sys.stderr)
                self.exitcode = 2
                return
        crawler = self._create_crawler(args[0])
        reasons: list[str] = []

        def closed(spider: Spider, reason: str, **kwargs: Any) -> None:
            reasons.append(reason)

        crawler.signals.connect(closed, signal=signals.spider_closed, weak=False)
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed or reasons != ["finished"]:
            self.exitcode = 1
