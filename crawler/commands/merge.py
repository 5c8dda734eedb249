"""``archiver merge SOURCE... -o DIR``: one archive folder of many (a distributed crawl's workers).

See :mod:`crawler.merge` for what DIR gets. Exit code 0 when every closed WARC
file was merged and read whole and every text file made, 1 when some could
not be (everything else is merged), 2 for a bad command line, a missing source,
an output folder that a crawl wrote or that is in use: nothing written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.commands import crawl_lock, usage_error
from crawler.exitcodes import OK, STOPPED, USAGE
from crawler.filecommand import FileCommand, print_text, quiet_warcio
from crawler.index import UnusableIndexError
from crawler.layout import Layout

if TYPE_CHECKING:
    import argparse


class Command(FileCommand):
    def syntax(self) -> str:
        return "SOURCE [SOURCE ...] -o DIR"

    def short_desc(self) -> str:
        return "Merge archive folders (a distributed crawl's workers) into one archive"

    def long_desc(self) -> str:
        return (
            "Make one archive folder DIR of the archive folders SOURCE...: their closed WARC "
            "files are hard-linked into DIR/warc (copied across file systems; .open files are "
            "left out), DIR/index.sqlite and DIR/indexes/index.cdxj are rebuilt from all of "
            "DIR/warc (each source's crawls stay crawls; an entry fetched by two workers keeps "
            "one seed row, the latest capture's), and DIR/text gets the corpus files from "
            "their conversion records. Merging again adds what is new. DIR must be new, empty "
            "or made by a merge; with no SOURCE, DIR's index is rebuilt from its own files. "
            "Crawls, replays and verify work on DIR as on any archive folder."
        )

    def examples(self) -> list[str]:
        return [
            "archiver merge w1/ w2/ w3/ -o merged     # three workers' folders into one",
            "archiver merge w1/ w2/ w3/ -o merged     # again later: adds what is new",
            "archiver merge -o merged                 # rebuild merged's index from its files",
        ]

    def exit_codes(self) -> list[tuple[int, str]]:
        return [
            (OK, "every closed WARC file was merged and read whole, every text file made"),
            (STOPPED, "some file could not be merged or read, or a text not made: listed"),
            (USAGE, "a bad command line, a missing source, DIR a crawl's folder or in use"),
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="DIR", help="the merged archive folder")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # Here, not at module level: every Scrapy command line imports every command module.
        from crawler.merge import MergeError, check_folders, merge

        if not opts.output:
            usage_error("give the merged archive folder: -o DIR")
        sources = [Path(arg) for arg in args]
        output = Path(opts.output)
        try:
            check_folders(sources, output)
        except MergeError as exc:
            usage_error(str(exc))
        quiet_warcio()
        layout = Layout(output)
        try:
            with crawl_lock(layout):
                # Again under the lock: a crawl may have written into DIR since.
                check_folders(sources, output)
                report = merge(sources, output)
        except MergeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = USAGE
            return
        except (OSError, UnusableIndexError) as exc:
            print(f"error: cannot merge into {output}: {exc}", file=sys.stderr)
            self.exitcode = STOPPED
            return
        print_text(report.render())
        self.exitcode = OK if report.ok else STOPPED
