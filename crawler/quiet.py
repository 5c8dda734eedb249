"""A quiet start and end: Scrapy's banner, settings and component lists go to DEBUG.

With ``ARCHIVER_QUIET`` (the default) the crawl's log keeps what a user acts
on: where the archive goes, what was skipped and why, progress, the end report.
Scrapy's start-up banner (its version and those of its libraries), the
"Overridden settings" and "Enabled addons/extensions/middlewares/item pipelines"
lists, the "Disabled" warnings of the archiver's own components that are off by
choice (``--requisites`` not given), the once-a-minute "Crawled N pages" line of
its LogStats extension (the progress line replaces it) and the stats dump at the
end are logged at DEBUG instead: ``-L DEBUG`` shows them all, and
``-s ARCHIVER_QUIET=False`` gives Scrapy's usual output.

The records are demoted by logging filters on Scrapy's own loggers, installed
before Scrapy logs its banner (:func:`quiet_scrapy`). A filter on a logger sees
only that logger's records, so nothing else is touched. The telnet console's
lines are left alone: the project turns it off, and a user who turns it on needs
its password.
"""

from __future__ import annotations

import logging

#: What is demoted, by logger name: the beginnings of the messages (format strings).
DEMOTED: dict[str, tuple[str, ...]] = {
    "scrapy.utils.log": ("Scrapy %(version)s started", "Versions:"),
    "scrapy.crawler": ("Overridden settings:",),
    "scrapy.addons": ("Enabled addons:", "Disabled %(clspath)s"),
    "scrapy.middleware": ("Enabled %(componentname)ss:", "Disabled %(clspath)s"),
    "scrapy.extensions.logstats": ("Crawled %(pages)d pages",),
    "scrapy.statscollectors": ("Dumping Scrapy stats:",),
}
#: "Disabled" warnings are demoted only for the archiver's own components: another
#: component that raises NotConfigured with a reason may need the user's attention.
OWN_COMPONENTS = "crawler."


class DemoteToDebug(logging.Filter):
    """Logs the records of one logger whose message begins with one of ``prefixes`` at DEBUG.

    A handler set to INFO then leaves them out; one set to DEBUG shows them.
    """

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and self._demoted(record):
            record.levelno = logging.DEBUG
            record.levelname = logging.getLevelName(logging.DEBUG)
        return True

    def _demoted(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if not message.startswith(self.prefixes):
            return False
        if message.startswith("Disabled "):
            component = record.args.get("clspath") if isinstance(record.args, dict) else None
            return isinstance(component, str) and component.startswith(OWN_COMPONENTS)
        return True


def quiet_scrapy() -> None:
    """Demote Scrapy's start-up and end-of-crawl listings to DEBUG, for the whole process.

    Installed once: a second call changes nothing.
    """
    for name, prefixes in DEMOTED.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, DemoteToDebug) for f in logger.filters):
            logger.addFilter(DemoteToDebug(prefixes))
