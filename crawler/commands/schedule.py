"""``archiver schedule EVERY INPUT [crawl options]``: a crawl on a schedule, in the foreground.

Each run is ``archiver crawl INPUT [crawl options]`` in a process of its own (a
fresh reactor, its own exit code, its own log lines on standard error), the
options passed through untouched. Runs start on a fixed grid from the first
one (see :mod:`crawler.schedule`), never overlap, and the next start is logged.
SIGTERM or SIGINT stops the schedule: the running crawl, if any, gets the
signal and ends as an interrupted crawl (``--resume`` picks it up), and the
schedule exits 0. A run that fails is logged and the schedule goes on.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy.commands import ScrapyCommand
from scrapy.utils.log import configure_logging

import crawler
from crawler.commandline import crawl_arguments
from crawler.commands import usage_error
from crawler.durations import EXAMPLES, parse_duration
from crawler.schedule import Scheduler, Subprocess

if TYPE_CHECKING:
    import argparse
    from types import FrameType

logger = logging.getLogger(__name__)

SYNTAX = "EVERY INPUT [crawl options]"


def crawl_environment() -> dict[str, str]:
    """This environment, with this copy of the package first on the import path.

    ``scrapy schedule`` can run from a subfolder of the project, where
    ``python -m crawler.cli`` would not find the package; and each run should
    be this very code.
    """
    env = dict(os.environ)
    here = str(Path(crawler.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
    return env


class Command(ScrapyCommand):
    requires_project = False
    # The crawls run in processes of their own: this one needs no reactor.
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_LEVEL": "INFO"}

    period: float = 0.0

    def syntax(self) -> str:
        return SYNTAX

    def short_desc(self) -> str:
        return "Run a crawl every EVERY (30s, 6h, 1d...), in the foreground"

    def long_desc(self) -> str:
        return (
            "Run 'archiver crawl INPUT [crawl options]' now and then every EVERY (a duration "
            f"such as {EXAMPLES}), each run in a process of its own, never two at once; a run "
            "that lasts past a start time makes that start be skipped. Every option after "
            "INPUT goes to the crawl untouched. SIGTERM or SIGINT stops the schedule: a "
            "running crawl gets the signal and ends as an interrupted crawl (--resume goes "
            "on with it), and the schedule exits 0."
        )

    def examples(self) -> list[str]:
        return [
            "archiver schedule 6h urls.txt -o /data/crawl   # now, then every 6 hours",
            "archiver schedule 1d urls.txt --due 1d -s DOWNLOAD_DELAY=2 -L WARNING",
            "archiver schedule 1h30m old-corpus/            # every 90 minutes, into ./archives",
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        # No options of its own (not even Scrapy's -s, -L, --logfile): every
        # option belongs to the crawl and stays among the arguments, in order.
        parser.set_defaults(profile=None)

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) < 2:
            usage_error(f"schedule takes {SYNTAX}")
        try:
            period = parse_duration(args[0])
        except ValueError as exc:
            usage_error(str(exc))
        if not period:
            usage_error(f"the period must be more than zero, not {args[0]}")
        self.period = period.total_seconds()
        # The crawl's own option parser finds INPUT, so both read the line alike.
        built = crawl_arguments(args[1:])
        if built[:3] != ["crawl", "urls", "-a"] or not built[3].startswith("urls="):
            usage_error(f"schedule takes {SYNTAX}: no INPUT in {' '.join(args[1:])!r}")
        source = built[3].removeprefix("urls=")
        if source == "-":
            usage_error("cannot schedule a crawl of standard input: give the list as a file")
        if not Path(source).exists():
            usage_error(f"cannot read {source}: no such file or folder")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        configure_logging(self.settings)
        job = Subprocess(
            [sys.executable, "-m", "crawler.cli", "crawl", *args[1:]], env=crawl_environment()
        )
        scheduler = Scheduler(self.period, job)
        logger.info(
            "Running %(command)s every %(every)s; SIGTERM or SIGINT stops",
            {"command": shlex.join(["archiver", "crawl", *args[1:]]), "every": args[0]},
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            scheduler.stop()
            job.forward(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scheduler.run()
        self.exitcode = 0
