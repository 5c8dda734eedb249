"""Scrapy commands of the archiver (``COMMANDS_MODULE``), one module each."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from crawler.layout import Layout
from crawler.lock import LockError, lock_for_crawl

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.settings import BaseSettings


def usage_error(message: str) -> NoReturn:
    """One line on standard error and exit code 2, before Scrapy logs anything."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def check_settings(settings: BaseSettings) -> None:
    """A usage error for settings a crawl cannot run with."""
    # Here, not at module level: the checks import much that only a crawl needs.
    from crawler.config import setting_problems

    problems = setting_problems(settings)
    if problems:
        usage_error("; ".join(problems))


def archive_root(positional: str | None, option: str | None, settings: BaseSettings) -> Path:
    """The archive folder of a command: DIR, ``-o/--output DIR``, else ``ARCHIVER_DIR``."""
    if positional and option and Path(positional) != Path(option):
        usage_error(f"two archive folders given: {positional} and {option}")
    chosen = positional or option
    return Path(chosen) if chosen else Layout.of(settings).root


@contextmanager
def crawl_lock(layout: Layout) -> Iterator[None]:
    """Hold ``layout``'s crawl lock, so that no crawl writes there meanwhile.

    A usage error when a crawl (or another command) holds it, or it cannot be taken.
    """
    try:
        folder_lock = lock_for_crawl(layout.lock)
    except LockError as exc:
        usage_error(str(exc))
    try:
        yield
    finally:
        if folder_lock is not None:
            folder_lock.release()
