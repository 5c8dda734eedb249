"""``archiver verify [PATH...] [-o DIR]``: check WARC, ARC and WACZ files strictly.

``-o DIR`` adds the archive folder's WARC folder (DIR/warc); with no PATH and
no ``-o`` it checks ``ARCHIVER_DIR``/warc. A
folder means every ``*.warc``, ``*.warc.gz``, ``*.arc``, ``*.arc.gz`` and
``*.wacz`` file under it (``.open`` ones too). Exit code 0 when every file is
clean, 1 when any has a problem, 2 when a path does not exist.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.filecommand import FileCommand, print_text, quiet_warcio
from crawler.layout import Layout
from crawler.warc.verify import render_report, verify_paths

if TYPE_CHECKING:
    import argparse


class Command(FileCommand):
    def syntax(self) -> str:
        return "[PATH ...] [-o DIR]"

    def short_desc(self) -> str:
        return "Check WARC, ARC and WACZ files: digests, record links, structure"

    def long_desc(self) -> str:
        return (
            "Check WARC files strictly (block and payload digests, mandatory headers, "
            "unique record ids, WARC-Concurrent-To targets, one WARC version and a "
            "warcinfo record first in each file), read ARC files and the WARC files "
            "inside WACZ files. A folder means every WARC, ARC and WACZ file under it; "
            "with no PATH, the archive's warc folder (ARCHIVER_DIR/warc). Exit code 0 "
            "when every file is clean, 1 on any problem, 2 when a path does not exist."
        )

    def examples(self) -> list[str]:
        return [
            "archiver verify                        # every WARC file of ./archives/warc",
            "archiver verify crawl1/ other.warc.gz  # files or folders, ours or anyone's",
            "archiver verify -o /data/crawl         # the warc folder of that archive",
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "-o", "--output", metavar="DIR", help="the archive folder whose warc folder to check"
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        paths = [Path(arg) for arg in args]
        if opts.output:
            paths.append(Layout(Path(opts.output)).warc_dir)
        if not paths:
            paths = [Layout.of(self.settings).warc_dir]
        missing = [path for path in paths if not path.exists()]
        if missing:
            print(f"error: no such file or folder: {missing[0]}", file=sys.stderr)
            self.exitcode = 2
            return
        quiet_warcio()
        run = verify_paths(paths)
        text = render_report(run)
        print_text(text)
        self.exitcode = 0 if run.ok else 1
