"""The ``archiver`` command: the archiver's Scrapy commands, from any folder.

``archiver crawl FILE [-o DIR] [--archived] [--resume] [--replay DIR [--at WHEN]]
[--requisites] [--due DURATION]`` runs ``scrapy crawl urls -a urls=FILE`` with the archive in DIR
(default ``$ARCHIVER_DIR`` or ``./archives``), each option turned into its
``ARCHIVER_*`` setting; every other
command (``verify``, ``rebuild``, ``settings``, ...) is passed to Scrapy as is.
"""

from __future__ import annotations

import argparse
import os
import sys

SETTINGS_MODULE = "crawler.settings"


def crawl_arguments(argv: list[str]) -> list[str]:
    """Turn ``crawl FILE [-o DIR] [scrapy options]`` into ``scrapy crawl urls`` arguments."""
    parser = argparse.ArgumentParser(prog="archiver crawl", add_help=False)
    parser.add_argument("input", nargs="?")
    parser.add_argument("-o", "--output")
    parser.add_argument("--archived", action="store_true")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--replay")
    parser.add_argument("--at")
    parser.add_argument("--requisites", action="store_true")
    parser.add_argument("--due")
    # Scrapy's options that take a value, so that their values are not taken for FILE.
    for flags in (("-s", "--set"), ("-a",), ("-L", "--loglevel"), ("--logfile",)):
        parser.add_argument(*flags, action="append", default=[], dest=flags[-1].lstrip("-"))
    known, rest = parser.parse_known_args(argv)
    if known.input is None or "-h" in rest or "--help" in rest:
        return ["crawl", "urls", *rest] if known.input is None else ["crawl", "--help"]
    result = ["crawl", "urls", "-a", f"urls={known.input}"]
    for value in known.a:
        result += ["-a", value]
    for value in known.set:
        result += ["-s", value]
    for value in known.loglevel:
        result += ["-L", value]
    for value in known.logfile:
        result += ["--logfile", value]
    # Each option becomes its setting; a flag sets True.
    for value, setting in (
        (known.output, "ARCHIVER_DIR"),
        (known.archived, "ARCHIVER_ARCHIVED_FALLBACK"),
        (known.resume, "ARCHIVER_RESUME"),
        (known.replay, "ARCHIVER_REPLAY"),
        (known.at, "ARCHIVER_REPLAY_AT"),
        (known.requisites, "ARCHIVER_REQUISITES"),
        (known.due, "ARCHIVER_DUE"),
    ):
        if value:
            result += ["-s", f"{setting}={value}"]
    return result + rest


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ["SCRAPY_SETTINGS_MODULE"] = SETTINGS_MODULE
    if args and args[0] == "crawl":
        args = crawl_arguments(args[1:])
    from scrapy.cmdline import execute
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule(SETTINGS_MODULE, priority="project")
    execute(["archiver", *args], settings=settings)


if __name__ == "__main__":
    main()
