"""``archiver worker --redis URL -o DIR``: crawl the entries of a shared Redis frontier.

Any number of workers, on any number of machines, crawl the input that
``archiver crawl INPUT --redis URL`` feeds, each into an archive folder of its
own (WARC files with the worker's id in their names, its own index and text);
``archiver merge`` joins the folders into one archive. A worker stops once
the input was fed whole and every entry is done (``--keep-running`` waits for
more), and exits as a crawl does (:mod:`crawler.exitcodes`). A Redis that
cannot be reached, or a frontier nothing was fed to, is a usage error (exit
code 2) before anything is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.addons import output_dir
from crawler.commands import usage_error
from crawler.commands.crawl import Command as CrawlCommand
from crawler.distributed.identity import WorkerIdError, worker_id
from crawler.layout import Layout
from crawler.spiders.frontier import FrontierSpider

if TYPE_CHECKING:
    import argparse

    from scrapy.settings import BaseSettings

SPIDER = FrontierSpider.name


class Command(CrawlCommand):
    def syntax(self) -> str:
        return "--redis URL [-o DIR] [--keep-running] [Scrapy options]"

    def short_desc(self) -> str:
        return "Crawl the URLs of a shared Redis frontier, one of many workers"

    def long_desc(self) -> str:
        return (
            "Crawl the entries that 'archiver crawl INPUT --redis URL' feeds into the Redis at "
            "URL, alongside any number of other workers, into the archive folder DIR of this "
            "worker alone: its WARC files carry the worker's id (kept in DIR/worker-id) in "
            "their names, and 'archiver merge' joins the workers' folders. The worker stops "
            "once the input was fed whole and every entry is done; --keep-running waits for "
            "more. A worker killed and started again on its folder takes back the entries it "
            "held; the others take them once their lease runs out "
            "(ARCHIVER_FRONTIER_LEASE_TTL). Exit codes as for archiver crawl."
        )

    def examples(self) -> list[str]:
        return [
            "archiver worker --redis redis://queue.example:6379/0 -o /data/worker",
            "archiver worker --redis redis://localhost -o w1 --keep-running -L WARNING",
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "-o", "--output", dest="archive_dir", metavar="DIR", help="this worker's archive folder"
        )
        parser.add_argument("--redis", metavar="URL", help="the Redis of the shared frontier")
        parser.add_argument(
            "--keep-running",
            action="store_true",
            help="wait for more entries once the frontier is done",
        )
        # Scrapy's -o/-O feed options are replaced by the archive folder.
        parser.set_defaults(output=None, overwrite_output=None)
        self.known_options = (*self.known_options, "--redis", "--keep-running")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            usage_error(f"worker takes no arguments, not {' '.join(args)} (the input is fed)")
        assert self.settings is not None
        url = opts.redis or self.settings.get("ARCHIVER_REDIS_URL")
        if not url:
            usage_error("worker needs --redis URL: the Redis that archiver crawl --redis fed")
        # Here, not at module level: every Scrapy command line imports every command module,
        # and the preflight brings redis-py.
        from crawler.distributed.preflight import FrontierUnavailableError, read_run

        try:
            run = read_run(url)
        except FrontierUnavailableError as exc:
            usage_error(str(exc))
        if run is None:
            usage_error(
                f"nothing was fed to the frontier at {url}: run archiver crawl INPUT --redis "
                f"{url} first"
            )
        settings = self.settings
        if (problem := _lease_problem(settings)) is not None:
            usage_error(problem)
        settings.set("ARCHIVER_REDIS_URL", url, priority="cmdline")
        if opts.archive_dir:
            settings.set("ARCHIVER_DIR", opts.archive_dir, priority="cmdline")
        if opts.keep_running:
            settings.set("ARCHIVER_FRONTIER_KEEP_RUNNING", True, priority="cmdline")
        opts.spargs = [
            *opts.spargs,
            f"frontier_input={run.input}",
            f"frontier_source={run.source}",
            f"frontier_run={run.run}",
        ]
        super().process_options([SPIDER], opts)
        # The folder is locked now: its worker id is this process's alone.
        try:
            worker = worker_id(Layout(output_dir(settings)).root)
        except (OSError, WorkerIdError) as exc:
            if self.folder_lock is not None:
                self.folder_lock.release()
            usage_error(str(exc))
        settings.set("ARCHIVER_WORKER_ID", worker, priority="cmdline")
        prefix = settings.get("ARCHIVER_WARC_PREFIX")
        settings.set("ARCHIVER_WARC_PREFIX", f"{prefix}-{worker}", priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        super().run([SPIDER], opts)


def _lease_problem(settings: BaseSettings) -> str | None:
    """What is wrong with the worker's lease settings, if anything."""
    try:
        prefetch = settings.getint("ARCHIVER_FRONTIER_PREFETCH")
        ttl = settings.getfloat("ARCHIVER_FRONTIER_LEASE_TTL")
    except ValueError as exc:
        return f"ARCHIVER_FRONTIER_PREFETCH and ARCHIVER_FRONTIER_LEASE_TTL are numbers: {exc}"
    if prefetch < 1:
        return f"ARCHIVER_FRONTIER_PREFETCH must be at least 1, not {prefetch}"
    if not ttl > 0:
        return f"ARCHIVER_FRONTIER_LEASE_TTL must be a positive number of seconds, not {ttl:g}"
    return None
