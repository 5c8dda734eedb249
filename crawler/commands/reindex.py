"""``archiver reindex [DIR | -o DIR]``: rebuild DIR's index.sqlite and CDXJ from DIR/warc.

DIR defaults to ``ARCHIVER_DIR``. Every WARC and ARC file under DIR/warc is
read, ours and foreign ones alike. Exit code 0 when every file was read whole,
1 when some could not be (what could be read is indexed), 2 when DIR does not
exist.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from crawler.commands import archive_root, crawl_lock, usage_error
from crawler.filecommand import FileCommand, print_text, quiet_warcio
from crawler.index import UnusableIndexError
from crawler.layout import Layout
from crawler.reindex import reindex

if TYPE_CHECKING:
    import argparse


class Command(FileCommand):
    def syntax(self) -> str:
        return "[DIR | -o DIR]"

    def short_desc(self) -> str:
        return "Rebuild the index and the CDXJ of an archive folder from its WARC files"

    def long_desc(self) -> str:
        return (
            "Rebuild DIR/index.sqlite (crawls, captures, seeds, text outcomes) and "
            "DIR/indexes/index.cdxj from the WARC and ARC files under DIR/warc alone, "
            "foreign files included (each gets a crawl of its own). The new index "
            "replaces the old one only once it is complete, and only if it holds no fewer "
            "crawls, captures and seeds (else it is left in DIR/index.reindexed.sqlite; "
            "--force replaces). The folder must not be in use by a crawl. "
            "DIR defaults to ARCHIVER_DIR. "
            "Exit code 0 when every file was read whole, 1 when some could not be "
            "(everything readable is still indexed), 2 when DIR does not exist."
        )

    def examples(self) -> list[str]:
        return [
            "archiver reindex                      # ./archives (ARCHIVER_DIR)",
            "archiver reindex /data/crawl          # another archive folder (or -o /data/crawl)",
            "archiver reindex /data/crawl --force  # even if the new index holds less",
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="DIR", help="the archive folder (or DIR)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="put the rebuilt index in place even when it holds fewer rows than the old one",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if len(args) > 1:
            usage_error("reindex takes one archive folder")
        root = archive_root(args[0] if args else None, opts.output, self.settings)
        if not root.is_dir():
            print(f"error: no such folder: {root}", file=sys.stderr)
            self.exitcode = 2
            return
        quiet_warcio()
        layout = Layout(root)
        try:
            # No crawl may write into the folder while its index is replaced.
            with crawl_lock(layout):
                report = reindex(layout, force=opts.force)
        except (OSError, UnusableIndexError) as exc:
            print(f"error: cannot rebuild the index of {root}: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        print_text(report.render())
        self.exitcode = 0 if report.ok else 1
