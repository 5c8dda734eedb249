"""The ``archiver`` command's own help, and strict reading of its command lines.

``archiver`` and ``archiver --help`` list the archiver's commands, one line
each, and Scrapy's own commands apart; ``archiver COMMAND --help`` shows that
command's usage, description, options and examples. Scrapy reads command lines
leniently (an unknown option becomes an argument); here an unknown option is a
usage error (one line on standard error, exit code 2) that names the closest
known option.
"""

from __future__ import annotations

import difflib
import re
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, NoReturn

from scrapy.cmdline import ScrapyArgumentParser
from scrapy.commands import ScrapyCommand, ScrapyHelpFormatter
from scrapy.utils.misc import walk_modules_iter

import crawler
from crawler.commands import usage_error

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Mapping

    from scrapy.settings import BaseSettings, Settings

#: The archiver's commands in the order ``archiver --help`` lists them; the
#: project's other commands follow in name order.
COMMAND_ORDER = (
    "crawl",
    "extract",
    "reindex",
    "merge",
    "worker",
    "verify",
    "rebuild",
    "serve",
    "export",
    "history",
    "schedule",
    "recover",
)
#: How close (0 to 1, difflib's ratio) a known name must be to be suggested for a mistyped one.
SUGGESTION_CUTOFF = 0.6
#: Words that ask for help, before or after a command's name.
HELP_OPTIONS = ("-h", "--help")
_NUMBER_RE = re.compile(r"-\d+(\.\d*)?$")


def commands_of(module: str) -> dict[str, ScrapyCommand]:
    """The commands defined in the modules of package ``module``, by module name, as Scrapy."""
    found: dict[str, ScrapyCommand] = {}
    for mod in walk_modules_iter(module):
        for obj in vars(mod).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, ScrapyCommand)
                and obj.__module__ == mod.__name__
                and not getattr(obj, "__abstractmethods__", None)
            ):
                found[mod.__name__.rsplit(".", 1)[-1]] = obj()
    return found


def all_commands(
    settings: BaseSettings,
) -> tuple[dict[str, ScrapyCommand], dict[str, ScrapyCommand]]:
    """The archiver's commands (``COMMANDS_MODULE``) and Scrapy's others, as Scrapy finds them."""
    scrapys = commands_of("scrapy.commands")
    for entry_point in entry_points(group="scrapy.commands"):
        command = entry_point.load()
        if isinstance(command, type):
            scrapys[entry_point.name] = command()
    ours = commands_of(settings["COMMANDS_MODULE"]) if settings["COMMANDS_MODULE"] else {}
    return ours, {name: cmd for name, cmd in scrapys.items() if name not in ours}


def ordered(names: Iterable[str]) -> list[str]:
    """Command names in :data:`COMMAND_ORDER`, then the rest by name."""
    rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def overview(ours: Mapping[str, ScrapyCommand], scrapys: Mapping[str, ScrapyCommand]) -> str:
    """What ``archiver --help`` prints."""
    width = max(map(len, [*ours, *scrapys]), default=0)
    lines = [
        f"archiver {crawler.__version__}: archive web pages in WARC files and turn them into "
        "a text corpus",
        "",
        "Usage",
        "=====",
        "  archiver <command> [options] [arguments]",
        "  archiver <command> --help",
        "",
        "Commands",
        "========",
        *(f"  {name:<{width}}  {ours[name].short_desc()}" for name in ordered(ours)),
        "",
        "Scrapy's commands",
        "=================",
        *(f"  {name:<{width}}  {scrapys[name].short_desc()}" for name in sorted(scrapys)),
        "",
        'Run "archiver <command> --help" for a command\'s options, examples and exit codes.',
        "Every command exits with code 2 on a bad command line, having written nothing.",
    ]
    return "\n".join(lines)


class StrictParser(ScrapyArgumentParser):
    """Scrapy's parser, whose errors are one line on standard error and exit code 2."""

    def error(self, message: str) -> NoReturn:
        usage_error(f"{self.prog}: {message}")


def command_parser(name: str, command: ScrapyCommand, settings: Settings) -> StrictParser:
    """The parser Scrapy builds for ``command``, named and described as ``archiver NAME``."""
    parser = StrictParser(
        prog=f"archiver {name}",
        usage=f"archiver {name} {command.syntax()}",
        description=command.long_desc(),
        formatter_class=ScrapyHelpFormatter,
        conflict_handler="resolve",
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    command.settings = settings.copy()
    command.add_options(parser)
    return parser


def render_help(
    parser: argparse.ArgumentParser,
    examples: Iterable[str] = (),
    exit_codes: Iterable[tuple[int, str]] = (),
) -> str:
    """The parser's help, then the command's exit codes and examples, when it has them."""
    text = parser.format_help().rstrip("\n")
    codes = [f"  {code}  {meaning}" for code, meaning in exit_codes]
    if codes:
        text += "\n\nExit Codes\n==========\n" + "\n".join(codes)
    listed = [f"  {line}" for line in examples]
    if listed:
        text += "\n\nExamples\n========\n" + "\n".join(listed)
    return text


def command_help(parser: argparse.ArgumentParser, command: ScrapyCommand) -> str:
    """A command's help, with its ``examples()`` and ``exit_codes()`` when it has them."""
    examples = getattr(command, "examples", None)
    exit_codes = getattr(command, "exit_codes", None)
    return render_help(
        parser,
        examples() if callable(examples) else (),
        exit_codes() if callable(exit_codes) else (),
    )


def wants_help(argv: list[str]) -> bool:
    """Whether -h or --help is among the options (not after ``--``)."""
    for arg in argv:
        if arg == "--":
            return False
        if arg in HELP_OPTIONS:
            return True
    return False


def option_strings(parser: argparse.ArgumentParser) -> tuple[str, ...]:
    """Every option the parser knows, long and short."""
    return tuple(s for action in parser._actions for s in action.option_strings)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word``, if any is close enough (:data:`SUGGESTION_CUTOFF`)."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=SUGGESTION_CUTOFF)
    return found[0] if found else None


def unknown_option(arg: str, known: Iterable[str], hints: Mapping[str, str] | None = None) -> str:
    """The message for an option no parser knows, with the closest known one."""
    option = arg.split("=", 1)[0]
    if hints and option in hints:
        return f"unknown option {option}: {hints[option]}"
    suggestion = closest(
        option, [k for k in known if k.startswith("--") == option.startswith("--")]
    )
    if suggestion is None:
        return f"unknown option {option}"
    return f"unknown option {option}; did you mean {suggestion}?"


def unknown_options(extras: Iterable[str]) -> list[str]:
    """The arguments a lenient parser left over that are options: ``-x``, ``--xy``, ``--x=1``."""
    found = []
    for arg in extras:
        if arg == "--":
            break
        if arg.startswith("-") and arg != "-" and not _NUMBER_RE.match(arg):
            found.append(arg)
    return found


def check_options(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """A usage error for the first option of ``argv`` that ``parser`` does not know."""
    _, extras = parser.parse_known_args(argv)
    unknown = unknown_options(extras)
    if unknown:
        usage_error(unknown_option(unknown[0], option_strings(parser)))
