"""``archiver export wacz [DIR] -o FILE [--title T] [--force]``: the archive as a WACZ file.

The WACZ holds the WARC files, the CDXJ index (written first when missing or
stale) and a page list with each page's extracted text, which ReplayWeb.page
lists and searches. Exit code 0 when written, 1 when writing failed, 2 on a
bad command line (unknown format, no archive folder, no ``-o``, an existing
FILE without ``--force``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.commands import usage_error
from crawler.filecommand import FileCommand
from crawler.layout import Layout, default_root

if TYPE_CHECKING:
    import argparse

FORMATS = ("wacz",)


class Command(FileCommand):
    def syntax(self) -> str:
        return "wacz [DIR] -o FILE [--title TITLE] [--force]"

    def short_desc(self) -> str:
        return "Export the archive as a WACZ file for ReplayWeb.page"

    def long_desc(self) -> str:
        return (
            "Write the archive folder DIR (default ARCHIVER_DIR or ./archives) as a WACZ 1.1.1 "
            "file: its WARC files, its CDXJ index and a page list with each page's URL, "
            "capture time, title and extracted text, which ReplayWeb.page lists and searches."
        )

    def examples(self) -> list[str]:
        return [
            "archiver export wacz -o archive.wacz  # ./archives (or ARCHIVER_DIR)",
            'archiver export wacz /data/crawl -o crawl.wacz --title "Crawl of May"',
            "archiver export wacz /data/crawl -o crawl.wacz --force  # overwrite",
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="FILE", help="the WACZ file to write")
        parser.add_argument("--title", help="the collection's title (default: DIR's name)")
        parser.add_argument("--force", action="store_true", help="overwrite an existing FILE")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if not args or args[0] not in FORMATS:
            usage_error(f"export takes a format first: {', '.join(FORMATS)}")
        if len(args) > 2:
            usage_error("export wacz takes one archive folder")
        if not opts.output:
            usage_error("export wacz needs -o FILE")
        if Path(opts.output).exists() and not opts.force:
            usage_error(f"{opts.output} exists (--force overwrites it)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # Here, not at module level: every Scrapy command line imports every command module.
        from crawler.pywb import ensure_cdxj
        from crawler.wacz import WaczError, write_wacz

        assert self.settings is not None
        root = (
            Path(args[1])
            if len(args) > 1
            else Path(self.settings.get("ARCHIVER_DIR") or default_root())
        )
        layout = Layout(root)
        if not layout.warc_dir.is_dir():
            usage_error(f"{root} is not an archive folder (no {layout.warc_dir})")
        title = opts.title or root.resolve().name
        try:
            cdxj, problems = ensure_cdxj(layout)
            summary = write_wacz(layout, cdxj, Path(opts.output), title=title)
        except (WaczError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        for problem in problems:
            # The WACZ holds the file, but replay finds only what could be indexed.
            print(f"error: not indexed: {problem}", file=sys.stderr)
            self.exitcode = 1
        print(
            f"Wrote {summary.path}: {summary.pages} pages ({summary.pages_with_text} with text), "
            f"{summary.warc_files} WARC files, {summary.size} bytes"
        )
