"""The base of the archiver's commands that work on files alone.

It lives outside ``crawler.commands``: Scrapy takes every command class found
in that package's modules for a command of its own.
"""

from __future__ import annotations

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
