"""``archiver rebuild CORPUS_DIR [-o OUT] [--archived]``: rebuild a corpus from its URLs.

Crawls the ``Original url`` of every document of the folder into the archive
OUT (default: ARCHIVER_DIR), writes the rebuilt documents under their old file
names in OUT/text, then OUT/report.jsonl and a summary comparing old and new
that names every document whose text, title or date differs. Exit code 0 when
every document was rebuilt, 3 when some were not (the summary lists them), 1
when the crawl stopped before its end or had a fault to look at (as ``archiver
crawl``, :mod:`crawler.exitcodes`), 2 for a bad command line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.commands import ScrapyCommand

from crawler.commands import check_settings, usage_error
from crawler.exitcodes import OK, SOME_FAILED, STOPPED, USAGE, crawl_exit_code, explain
from crawler.layout import REPORT_NAME, Layout
from crawler.lock import FolderLock, LockError, lock_for_crawl

if TYPE_CHECKING:
    import argparse

    from scrapy import Spider

logger = logging.getLogger(__name__)


class Command(ScrapyCommand):
    requires_project = True
    folder_lock: FolderLock | None = None

    def syntax(self) -> str:
        return "[options] <corpus folder>"

    def short_desc(self) -> str:
        return "Rebuild a corpus from the Original url of its documents, with a report"

    def long_desc(self) -> str:
        return (
            "Crawl the Original url of every *.txt document of the corpus folder into the "
            "archive folder (-o DIR, default ARCHIVER_DIR), write the rebuilt documents under "
            "their old names in DIR/text, one row per document in DIR/report.jsonl, and a "
            "summary: how close each new text is to the old one, the documents whose text, "
            "title or date differ (and how), and the documents not rebuilt, with why."
        )

    def examples(self) -> list[str]:
        return [
            "archiver rebuild old-corpus/ -o rebuilt             # crawl every Original url",
            "archiver rebuild old-corpus/ -o rebuilt --archived  # dead URLs from a web archive",
        ]

    def exit_codes(self) -> list[tuple[int, str]]:
        return [
            (OK, "every document was rebuilt (some may differ: the summary names them)"),
            (SOME_FAILED, "some documents were not rebuilt: the summary lists them, with why"),
            (STOPPED, "the crawl stopped before its end, or had a fault (see the log)"),
            (USAGE, "a bad command line, or the folder is in use: nothing written"),
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="DIR", help="archive folder of the rebuild")
        parser.add_argument(
            "--archived",
            action="store_true",
            help="fetch dead URLs from a web archive (ARCHIVER_WAYBACK_URL)",
        )

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        if len(args) != 1:
            usage_error("rebuild takes one corpus folder")
        if not Path(args[0]).is_dir():
            usage_error(f"cannot read {args[0]}: not a folder of corpus documents")
        if opts.output:
            self.settings.set("ARCHIVER_DIR", opts.output, priority="cmdline")
        if opts.archived:
            self.settings.set("ARCHIVER_ARCHIVED_FALLBACK", True, priority="cmdline")
        check_settings(self.settings)
        # One crawl per archive folder, held until the report is written.
        try:
            self.folder_lock = lock_for_crawl(Layout.of(self.settings).lock)
        except LockError as exc:
            usage_error(str(exc))

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if self.folder_lock is not None:
            self.folder_lock.log_takeover()
        try:
            self._rebuild(args)
        finally:
            if self.folder_lock is not None:
                self.folder_lock.release()

    def _rebuild(self, args: list[str]) -> None:
        # Here, not at module level: every Scrapy command line imports every command module.
        from crawler.extensions.archive import ArchiveExtension
        from crawler.rebuild import all_rebuilt, build_report, summarize, write_report
        from crawler.spiders.urls import UrlsSpider

        assert self.crawler_process is not None and self.settings is not None
        corpus = Path(args[0])
        crawler = self.crawler_process.create_crawler(UrlsSpider)
        reasons: list[str] = []

        def closed(spider: Spider, reason: str, **kwargs: Any) -> None:
            reasons.append(reason)

        crawler.signals.connect(closed, signal=signals.spider_closed, weak=False)
        self.crawler_process.crawl(crawler, urls=str(corpus))
        self.crawler_process.start()
        stats = crawler.stats.get_stats() if crawler.stats is not None else {}
        self.exitcode = crawl_exit_code(reasons, stats)
        why = explain(self.exitcode, reasons, stats)
        extension = crawler.get_extension(ArchiveExtension)
        if extension is None or extension.archive is None:
            self.exitcode = STOPPED
            return
        out = extension.root
        rows = build_report(corpus, out, extension.archive.crawl_id)
        write_report(rows, out / REPORT_NAME)
        print(summarize(rows, out))
        if self.exitcode == STOPPED:
            logger.warning("%(why)s", {"why": why})
        else:
            # Failed URLs and documents with no text alike: what counts is the corpus.
            self.exitcode = OK if all_rebuilt(rows) else SOME_FAILED
