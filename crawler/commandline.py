"""The ``archiver`` command line: the archiver's Scrapy commands, from any folder.

``archiver`` (or ``archiver --help``) lists the commands; ``archiver COMMAND
--help`` shows one's options and examples (:mod:`crawler.usage`). ``archiver
crawl INPUT [-o DIR] [--archived] [--resume] [--replay DIR [--at WHEN]]
[--requisites] [--due DURATION] [--redis URL]`` runs ``scrapy crawl urls -a urls=INPUT`` with
the archive in DIR (default ``$ARCHIVER_DIR`` or ``./archives``), each option
turned into its ``ARCHIVER_*`` setting, and Scrapy's options (``-s``, ``-a``,
``-L``, ``--logfile``...) passed on. Every other command is Scrapy's, run as
``scrapy COMMAND`` would run it, except that an option it does not know is a
usage error (exit code 2) instead of an argument. The entry point is
:mod:`crawler.cli`, which imports this module only when it runs.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NoReturn

# First, while few modules are loaded: this module of Scrapy's makes deprecated classes,
# which calls inspect.stack(), and that looks each frame's module up among all the modules
# loaded. Imported later (by the download handler, deep in the crawl), it costs several
# times as much.
import scrapy.core.downloader.contextfactory  # noqa: F401
from scrapy.commands import ScrapyHelpFormatter
from scrapy.settings import Settings

from crawler.commands import usage_error
from crawler.exitcodes import CRAWL_EXIT_CODES
from crawler.usage import (
    HELP_OPTIONS,
    StrictParser,
    all_commands,
    check_options,
    closest,
    command_help,
    command_parser,
    option_strings,
    overview,
    render_help,
    unknown_option,
    unknown_options,
    wants_help,
)

if TYPE_CHECKING:
    from scrapy.commands import ScrapyCommand

SETTINGS_MODULE = "crawler.settings"

#: Commands whose options belong to the crawl they run: the crawl's parser checks them.
OPTIONS_PASSED_ON = ("schedule",)

CRAWL_SYNTAX = (
    "INPUT [-o DIR] [--resume] [--archived] [--replay DIR [--at WHEN]] [--requisites] "
    "[--due DURATION] [--items FILE] [--redis URL] [Scrapy options]"
)
CRAWL_DESCRIPTION = (
    "Archive every URL of INPUT: each HTTP exchange into WARC files, the text of each page "
    "into DIR/text, what became of each entry into DIR/index.sqlite. INPUT is a URL list "
    "(one URL a line), a folder of corpus documents (the Original url of each *.txt), or - "
    "for standard input. --items FILE also writes one item per entry (what became of it: "
    "outcome, reason, status, title, date, text file, WARC record) with Scrapy's feed export, "
    "in the format of FILE's extension (.jsonl, .json, .csv, .xml); -o is the archive folder. "
    "--redis URL feeds INPUT into the shared frontier in that Redis instead, for any number "
    "of 'archiver worker --redis URL' to crawl; DIR then gets only the lines that cannot be "
    "fetched (invalid, duplicate)."
)
CRAWL_EXAMPLES = (
    "archiver crawl urls.txt                    # into ./archives",
    "archiver crawl urls.txt -o /data/crawl     # into /data/crawl (or set ARCHIVER_DIR)",
    "cat urls.txt | archiver crawl -            # from standard input",
    "archiver crawl old-corpus/                 # the Original url of every *.txt document",
    "archiver crawl urls.txt --resume           # go on with an interrupted crawl",
    "archiver crawl urls.txt --due 6h           # only URLs last captured over 6 hours ago",
    "archiver crawl urls.txt --replay archives --at 2026-11-27 -o replayed",
    "archiver crawl urls.txt --items items.csv  # and one CSV row per entry",
    "archiver crawl urls.txt --redis redis://queue:6379/0 -o feed  # for archiver worker",
    "archiver crawl urls.txt -s DOWNLOAD_DELAY=2 -L WARNING --logfile crawl.log",
)
#: What to use instead of options of ``scrapy crawl`` that mean nothing, or else, here.
CRAWL_HINTS = {
    "-O": "--items FILE writes the item feed (-o is the archive folder)",
    "--overwrite-output": "--items FILE writes the item feed (-o is the archive folder)",
}
#: ``archiver crawl``'s own options and the setting each one sets.
CRAWL_SETTINGS = (
    ("output", "ARCHIVER_DIR"),
    ("archived", "ARCHIVER_ARCHIVED_FALLBACK"),
    ("resume", "ARCHIVER_RESUME"),
    ("replay", "ARCHIVER_REPLAY"),
    ("at", "ARCHIVER_REPLAY_AT"),
    ("requisites", "ARCHIVER_REQUISITES"),
    ("due", "ARCHIVER_DUE"),
    ("redis", "ARCHIVER_REDIS_URL"),
)
#: Set as well when ``archiver crawl`` is given ``--redis``: the input is fed, not crawled.
FEED_SETTING = "ARCHIVER_FRONTIER_FEED"


def crawl_parser(*, with_input: bool = False) -> StrictParser:
    """The options of ``archiver crawl``; INPUT is listed for the help only."""
    parser = StrictParser(
        prog="archiver crawl",
        usage=f"archiver crawl {CRAWL_SYNTAX}",
        description=CRAWL_DESCRIPTION,
        formatter_class=ScrapyHelpFormatter,
        add_help=False,
        allow_abbrev=False,
    )
    if with_input:
        parser.add_argument("INPUT", help="a URL list, a corpus folder, or - for standard input")
    parser.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    add = parser.add_argument
    add("-o", "--output", metavar="DIR", help="the archive folder ($ARCHIVER_DIR, ./archives)")
    add("--resume", action="store_true", help="go on with the last interrupted crawl of INPUT")
    add("--archived", action="store_true", help="fetch dead URLs from a web archive instead")
    add("--replay", metavar="DIR", help="fetch from the archive folder DIR, not the network")
    add("--at", metavar="WHEN", help="with --replay: the captures closest to WHEN (a date)")
    add("--requisites", action="store_true", help="also each page's styles, scripts, images")
    add("--due", metavar="DURATION", help="only URLs last captured over DURATION ago (6h, 1d)")
    add("--items", metavar="FILE", help="also one item per entry into FILE (.jsonl, .csv...)")
    add("--redis", metavar="URL", help="feed INPUT to archiver worker through this Redis")
    scrapy = parser.add_argument_group("Scrapy options")
    scrapy.add_argument(
        "-s", "--set", metavar="NAME=VALUE", action="append", default=[], help="a setting"
    )
    scrapy.add_argument(
        "-a",
        dest="spargs",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a spider argument",
    )
    scrapy.add_argument("-L", "--loglevel", metavar="LEVEL", help="log level (INFO)")
    scrapy.add_argument("--logfile", metavar="FILE", help="log to FILE, not standard error")
    scrapy.add_argument("--nolog", action="store_true", help="no log at all")
    scrapy.add_argument("--pidfile", metavar="FILE", help="write the process id to FILE")
    scrapy.add_argument("--profile", metavar="FILE", help="write cProfile stats to FILE")
    scrapy.add_argument("--pdb", action="store_true", help="run pdb on failure")
    return parser


def crawl_help() -> str:
    return render_help(crawl_parser(with_input=True), CRAWL_EXAMPLES, CRAWL_EXIT_CODES)


def crawl_arguments(argv: list[str]) -> list[str]:
    """Turn ``crawl INPUT [options]`` into ``scrapy crawl urls`` arguments.

    An unknown option or a second INPUT is a usage error; with no INPUT the
    result has no ``-a urls=`` (the caller says what is missing).
    """
    parser = crawl_parser()
    known, extras = parser.parse_known_args(argv)
    unknown = unknown_options(extras)
    if unknown:
        usage_error(unknown_option(unknown[0], option_strings(parser), CRAWL_HINTS))
    inputs = list(extras)
    if "--" in inputs:
        inputs.remove("--")
    if len(inputs) > 1:
        usage_error(f"crawl takes one INPUT, not {len(inputs)}: {' '.join(inputs)}")
    result = ["crawl", "urls"]
    if inputs:
        result += ["-a", f"urls={inputs[0]}"]
    for value in known.spargs:
        result += ["-a", value]
    for value in known.set:
        result += ["-s", value]
    for flag, value in (
        ("-L", known.loglevel),
        ("--logfile", known.logfile),
        ("--pidfile", known.pidfile),
        ("--profile", known.profile),
        # Scrapy's feed export, overwriting FILE: one run's entries, not appended to another's.
        ("-O", known.items),
    ):
        if value:
            result += [flag, value]
    result += [flag for flag, on in (("--nolog", known.nolog), ("--pdb", known.pdb)) if on]
    # Each option becomes its setting; a flag sets True.
    for dest, setting in CRAWL_SETTINGS:
        value = getattr(known, dest)
        if value:
            result += ["-s", f"{setting}={value}"]
    if known.redis:
        result += ["-s", f"{FEED_SETTING}=True"]
    return result


def print_and_exit(text: str) -> NoReturn:
    """Print help and exit 0, also into a pipe closed early (``archiver --help | head``)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python would complain again when it flushes standard output at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(0)


def project_settings() -> Settings:
    settings = Settings()
    settings.setmodule(SETTINGS_MODULE, priority="project")
    return settings


def find_command(name: str, settings: Settings) -> ScrapyCommand:
    """The command called ``name``; a usage error naming the closest one if there is none."""
    ours, scrapys = all_commands(settings)
    commands = {**scrapys, **ours}
    if name not in commands:
        suggestion = closest(name, commands)
        hint = f"; did you mean {suggestion}?" if suggestion else " (archiver --help lists them)"
        usage_error(f"unknown command {name}{hint}")
    return commands[name]


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ["SCRAPY_SETTINGS_MODULE"] = SETTINGS_MODULE
    settings = project_settings()
    if args[:1] == ["help"]:
        args = [*args[1:2], "--help"] if len(args) > 1 else []
    if not args or args[0] in HELP_OPTIONS:
        print_and_exit(overview(*all_commands(settings)))
    name = args[0]
    if name.startswith("-"):
        usage_error(
            f"unknown option {name}: the command comes first (archiver <command> [options])"
        )
    if name == "crawl":
        # The crawl's options are its own: the other commands need not be found and made.
        if wants_help(args[1:]):
            print_and_exit(crawl_help())
        args = crawl_arguments(args[1:])
        if len(args) < 4 or not args[3].startswith("urls="):
            usage_error("crawl takes INPUT: a URL list, a corpus folder, or - for standard input")
    else:
        command = find_command(name, settings)
        parser = command_parser(name, command, settings)
        if wants_help(args[1:]):
            print_and_exit(command_help(parser, command))
        if name not in OPTIONS_PASSED_ON:
            check_options(parser, args[1:])
    from scrapy.cmdline import execute

    execute(["archiver", *args], settings=settings)
