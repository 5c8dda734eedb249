"""``archiver extract [PATH...] [-o OUT]``: the text corpus from WARC files, with no network.

PATH is an archive folder (``index.sqlite`` and ``warc/``: the pages and names
come from the index, so the files equal the live crawl's), or WARC, ARC and
WACZ files and folders of them, anyone's (pages and names by record order, see
:mod:`crawler.extract.sources`). With no PATH: the archive folder
(``ARCHIVER_DIR``). The text goes to ``OUT/text``; OUT defaults to the archive
folder given, or to ``ARCHIVER_DIR`` for loose WARC files. Exit code 0 when
every record was read, 1 when a file or record could not be (the rest is still
extracted), 2 for a missing path or a bad command line.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import ExitStack, redirect_stderr
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from scrapy.exceptions import UsageError
from scrapy.utils.misc import load_object

from crawler.filecommand import FileCommand, print_text, quiet_warcio
from crawler.layout import Layout
from crawler.lock import LockError, lock_for_crawl
from crawler.warc.reader import ReadProblem
from crawler.warc.verify import find_archives

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from crawler.extract.sources import Item


class Command(FileCommand):
    def syntax(self) -> str:
        return "[PATH ...] [-o OUT]"

    def short_desc(self) -> str:
        return "Extract the text corpus from WARC files, with no network"

    def long_desc(self) -> str:
        return (
            "Rebuild the text files from WARC files. PATH is an archive folder (its index "
            "gives the pages and their names, so the files equal the crawl's), or WARC, ARC "
            "and WACZ files or folders of them (pages named by their order). With no PATH, "
            "the archive folder (ARCHIVER_DIR). The text goes to OUT/text (default: the "
            "archive folder given, else ARCHIVER_DIR). Exit code 0 when every record was "
            "read, 1 when some could not be, 2 for a missing path."
        )

    def examples(self) -> list[str]:
        return [
            "archiver extract                     # ./archives (ARCHIVER_DIR): its text/ again",
            "archiver extract crawl1/ -o rebuilt  # crawl1's corpus into rebuilt/text",
            "archiver extract other.warc.gz warcs/ -o corpus  # anyone's WARC, ARC or WACZ files",
            "archiver extract crawl1/ -o rebuilt --report rebuilt/extract.jsonl",
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "-o", "--output", metavar="OUT", help="write the text files to OUT/text"
        )
        parser.add_argument(
            "--report",
            metavar="FILE",
            help="one JSON line per page to FILE (name, url, outcome...)",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # Here, not at module level: every Scrapy command line imports every command module,
        # and these bring multiprocessing, pebble and the WACZ reader.
        from crawler.extract import offline, sources
        from crawler.extract import pool as extraction

        assert self.settings is not None
        settings = self.settings
        home = Layout.of(settings)
        paths = [Path(arg) for arg in args] or [home.root]
        missing = [path for path in paths if not path.exists()]
        if missing:
            print(f"error: no such file or folder: {missing[0]}", file=sys.stderr)
            self.exitcode = 2
            return
        archives = [path for path in paths if path.is_dir() and Layout(path).index.exists()]
        if archives and len(paths) > 1:
            raise UsageError(f"{archives[0]} is an archive folder: give it alone")
        workers = settings.getint("ARCHIVER_EXTRACT_WORKERS") or os.cpu_count() or 1
        timeout = settings.getfloat("ARCHIVER_EXTRACT_TIMEOUT")
        try:
            function = load_object(settings.get("ARCHIVER_EXTRACT_FUNCTION"))
        except (ImportError, NameError, ValueError) as exc:
            raise UsageError(f"ARCHIVER_EXTRACT_FUNCTION: {exc}") from exc
        quiet_warcio()
        with ExitStack() as stack:
            if archives:
                source = Layout(archives[0])
                out = Layout(Path(opts.output)) if opts.output else source
                files = len(find_archives(source.warc_dir)) if source.warc_dir.is_dir() else 0
                items: Iterator[Item] = sources.index_pages(source)
            else:
                folders = [p for p in paths if p.is_dir() and Layout(p).warc_dir.is_dir()]
                for folder in folders:
                    print(
                        f"note: {folder} has no index: pages are named by record order; "
                        f"run `archiver reindex {folder}` first for the crawl's names",
                        file=sys.stderr,
                    )
                default = Layout(folders[0]) if len(paths) == 1 and folders else home
                out = Layout(Path(opts.output)) if opts.output else default
                unpacked = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                warcs, problems = _inputs(paths, unpacked)
                files = len(warcs)
                items = _chain(problems, sources.warc_pages(warcs))
            if out.index.exists() or out.warc_dir.is_dir():
                # It writes into an archive folder's text/: not while a crawl writes there.
                try:
                    folder_lock = lock_for_crawl(out.lock)
                except LockError as exc:
                    raise UsageError(str(exc)) from exc
                if folder_lock is not None:
                    stack.callback(folder_lock.release)
            report = _open_report(stack, opts.report)
            stack.enter_context(redirect_stderr(_QuietWarcio(sys.stderr)))
            pool = extraction.ExtractionPool(function, workers=workers, timeout=timeout)
            stack.callback(pool.close)
            summary = offline.extract_pages(items, pool, out.text_dir, report=report)
        text = offline.render_summary(summary, files=files)
        print_text(text)
        self.exitcode = 0 if summary.ok else 1


def _inputs(paths: list[Path], unpacked: Path) -> tuple[list[Path], list[ReadProblem]]:
    """The WARC and ARC files to read, WACZ files unpacked; problems with the WACZ files."""
    from crawler.extract.sources import is_wacz, unpack_wacz

    files: list[Path] = []
    problems: list[ReadProblem] = []
    waczs = 0
    for path in paths:
        for found in find_archives(path):
            if not is_wacz(found):
                files.append(found)
                continue
            waczs += 1  # a folder each: two WACZ files may hold members of the same name
            members = unpack_wacz(found, unpacked / str(waczs))
            if isinstance(members, ReadProblem):
                problems.append(members)
            else:
                files.extend(members)
    return files, problems


class _QuietWarcio:
    """stderr without warcio's framing warnings (the record is read anyway; verify reports it)."""

    def __init__(self, passthrough: TextIO) -> None:
        self._passthrough = passthrough

    def write(self, text: str) -> int:
        if "Record not followed by newline" not in text:
            self._passthrough.write(text)
        return len(text)

    def flush(self) -> None:
        self._passthrough.flush()


def _chain(first: list[ReadProblem], rest: Iterator[Item]) -> Iterator[Item]:
    yield from first
    yield from rest


def _open_report(stack: ExitStack, path: str | None) -> TextIO | None:
    if not path:
        return None
    try:
        return stack.enter_context(open(path, "w", encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write the report {path}: {exc.strerror or exc}") from exc
