"""``archiver recover [DIR | -o DIR]``: put an archive folder right after a crawl was killed.

DIR defaults to ``ARCHIVER_DIR``. See :mod:`crawler.recover` for what is
repaired and what is read. Exit code 0 when the archive is sound afterwards
(nothing to do included), 1 when something could not be recovered, 2 for a
usage error (no such folder, a folder in use by a crawl).
"""

from __future__ import annotations

import sqlite3
import sys
from typing import TYPE_CHECKING

from crawler.commands import archive_root, crawl_lock, usage_error
from crawler.filecommand import FileCommand, print_text, quiet_warcio
from crawler.index import UnusableIndexError
from crawler.layout import Layout
from crawler.recover import recover

if TYPE_CHECKING:
    import argparse


class Command(FileCommand):
    def syntax(self) -> str:
        return "[DIR | -o DIR]"

    def short_desc(self) -> str:
        return "Repair an archive folder after a crawl was killed (open WARC files, index rows)"

    def long_desc(self) -> str:
        return (
            "Repair DIR after a crawl that stopped without closing it (kill -9, a power cut, "
            "a full disk): each WARC file still named .open is cut after its last whole record "
            "(the bytes cut off are kept in NAME.warc.gz.torn), synced and renamed; the records "
            "the index lacks are indexed; rows of records that are not in their file are "
            "removed; a crawl with no end is ended as 'unfinished' (--resume goes on with it); "
            "the CDXJ is written again. Only the files that were open and the last files of "
            "unfinished crawls are read. A crawl does the same when it starts. The folder must "
            "not be in use by a crawl. DIR defaults to ARCHIVER_DIR. Exit code 0 when the "
            "archive is sound afterwards, 1 when something could not be recovered, 2 when DIR "
            "does not exist or is in use."
        )

    def examples(self) -> list[str]:
        return [
            "archiver recover              # ./archives (ARCHIVER_DIR)",
            "archiver recover /data/crawl  # another archive folder (or -o /data/crawl)",
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="DIR", help="the archive folder (or DIR)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if len(args) > 1:
            usage_error("recover takes one archive folder")
        root = archive_root(args[0] if args else None, opts.output, self.settings)
        if not root.is_dir():
            usage_error(f"no such folder: {root}")
        quiet_warcio()
        layout = Layout(root)
        try:
            with crawl_lock(layout):
                recovery = recover(layout)
        except (OSError, sqlite3.Error, UnusableIndexError) as exc:
            print(f"error: cannot recover {root}: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        print_text(recovery.render())
        self.exitcode = 0 if recovery.ok else 1
