"""Scrapy add-ons of the archiver (``ADDONS``): settings that go together, switched on by one.

:class:`ReplayAddon` turns any spider of the project into a replay of the
archive when ``ARCHIVER_REPLAY`` is set (``archiver crawl FILE --replay DIR``,
or ``scrapy crawl SPIDER -s ARCHIVER_REPLAY=DIR``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy.settings import SETTINGS_PRIORITIES

from crawler.layout import DEFAULT_DIR, Layout

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

REPLAY_HANDLER = "crawler.handlers.replay.ReplayDownloadHandler"
#: What only the network needs: no delay, no throttling, no retries (a replay gives the
#: same answer every time). Set at spider priority: only the command line beats it.
REPLAY_SETTINGS = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "RETRY_ENABLED": False,
}


class ReplayAddon:
    """Serves every http(s) request from the archive folder ``ARCHIVER_REPLAY``."""

    def update_settings(self, settings: BaseSettings) -> None:
        root = settings.get("ARCHIVER_REPLAY")
        if not root:
            return
        # The replay must win over any http(s) handler a project or spider set: nothing
        # may reach the network in a replay.
        handlers = settings["DOWNLOAD_HANDLERS"]
        for scheme in ("http", "https"):
            handlers.set(scheme, REPLAY_HANDLER, SETTINGS_PRIORITIES["cmdline"])
        for name, value in REPLAY_SETTINGS.items():
            settings.set(name, value, "spider")
        if _output_not_given(settings):
            # Text files and index rows of a replay go beside what they come from.
            settings.set("ARCHIVER_DIR", root, "spider")
        logger.info(
            "Replay of %(root)s into %(out)s", {"root": root, "out": settings.get("ARCHIVER_DIR")}
        )


def _output_not_given(settings: BaseSettings) -> bool:
    """Whether ARCHIVER_DIR is still the default: no -o, -s, $ARCHIVER_DIR or own value."""
    if (settings.getpriority("ARCHIVER_DIR") or 0) >= SETTINGS_PRIORITIES["cmdline"]:
        return False
    return not os.environ.get("ARCHIVER_DIR") and settings.get("ARCHIVER_DIR") == DEFAULT_DIR


def output_dir(settings: BaseSettings) -> Path:
    """The archive folder a crawl writes into, once this add-on has done its part.

    The crawl command locks it before the add-ons run: a replay without ``-o``
    writes into the folder it replays.
    """
    root = settings.get("ARCHIVER_REPLAY")
    if root and _output_not_given(settings):
        return Path(root)
    return Layout.of(settings).root
