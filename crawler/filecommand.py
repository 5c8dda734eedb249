"""The base of the archiver's commands that work on files alone.

It lives outside ``crawler.commands``: Scrapy takes every command class found
in that package's modules for a command of its own.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, ClassVar

from scrapy.commands import ScrapyCommand


class FileCommand(ScrapyCommand):
    """A command that works on files alone: no crawler, no reactor, no Scrapy log.

    Its output is its own report on standard output; problems go to standard
    error. Run from any folder (no project needed).
    """

    requires_project = False
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}


def quiet_warcio() -> None:
    """No line per URI with spaces that warcio rewrites: the command's report is the output."""
    logging.getLogger("warcio").setLevel(logging.ERROR)


def print_text(text: str) -> None:
    """Print ``text`` whatever the terminal's encoding: URLs and paths can hold anything."""
    encoding = sys.stdout.encoding or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding))
