"""``archiver history URL [--diff A B] [-o DIR]``: a URL's text versions, and what changed.

Lists the text versions of URL in the archive folder (``-o DIR``, default
``ARCHIVER_DIR``): number (1 the oldest), capture time, status, payload
digest, text digest, words, and how many captures gave that text. ``--diff A
B`` prints a unified diff of two versions' texts, read from the WARC
conversion records; A and B are version numbers as listed or 14-digit capture
timestamps. Exit code 0, 1 when the archive has no capture or no text of URL,
2 on a bad command line or a version it does not have.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from crawler.commands import archive_root, usage_error
from crawler.filecommand import FileCommand, print_text
from crawler.index import Index, UnusableIndexError
from crawler.layout import Layout

if TYPE_CHECKING:
    import argparse


class Command(FileCommand):
    def syntax(self) -> str:
        return "URL [--diff A B] [-o DIR]"

    def short_desc(self) -> str:
        return "List a URL's text versions, or diff two of them"

    def long_desc(self) -> str:
        return (
            "List the text versions of URL in the archive folder (-o DIR, default "
            "ARCHIVER_DIR): number (1 the oldest), capture time, status, payload and text "
            "digests, words, captures that gave the text. --diff A B prints a unified diff "
            "of two versions (numbers as listed, or 14-digit capture timestamps), read from "
            "the WARC conversion records. Exit code 1 when URL has no capture or no text, "
            "2 on a bad command line."
        )

    def examples(self) -> list[str]:
        return [
            "archiver history https://example.com/a -o /data/crawl",
            "archiver history https://example.com/a --diff 1 2 -o /data/crawl",
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="DIR", help="the archive folder")
        parser.add_argument("--diff", nargs=2, metavar=("A", "B"), help="diff two versions")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if len(args) != 1:
            usage_error("history takes one URL")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        layout = Layout(archive_root(None, opts.output, self.settings))
        if not layout.index.is_file():
            print(f"error: {layout.root} has no index ({layout.index})", file=sys.stderr)
            self.exitcode = 1
            return
        try:
            index = Index(layout.index)
        except UnusableIndexError as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        try:
            self.exitcode = self._show(layout, index, args[0], opts.diff)
        finally:
            index.close()

    def _show(self, layout: Layout, index: Index, url: str, diff: list[str] | None) -> int:
        # Here, not at module level: every Scrapy command line imports every command module.
        from crawler.history import VersionError, known_url, pick, render, unified_diff, versions

        found_url = known_url(index, url)
        if found_url is None:
            print(f"error: {url} is not in the archive {layout.root}", file=sys.stderr)
            return 1
        found = versions(index, found_url)
        if not found:
            print(f"error: {found_url} has no text version in {layout.root}", file=sys.stderr)
            return 1
        if diff is None:
            print_text(render(found_url, found))
            return 0
        try:
            old, new = pick(found, diff[0]), pick(found, diff[1])
        except VersionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            text = unified_diff(layout, old, new)
        except (VersionError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        same = f"versions {old.number} and {new.number}: same text"
        print_text(text.rstrip("\n") if text else same)
        return 0
