"""Every path under the archive folder (``ARCHIVER_DIR``), named in one place.

::

    DIR/warc/*.warc.gz         the WARC files: the source of truth
    DIR/text/*.txt             the corpus, one text file per page
    DIR/index.sqlite           the index: a cache of the WARC files
    DIR/indexes/index.cdxj     the sorted CDXJ index that replay tools read
    DIR/report.jsonl           the report of ``archiver rebuild``
    DIR/reports/crawl-N.json   the end report of crawl N (see crawler.report)
    DIR/reports/latest.json    a copy of the last crawl's end report
    DIR/crawl.lock             held by the crawl writing into DIR (see crawler.lock)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

DEFAULT_DIR = "archives"
WARC_DIR = "warc"
TEXT_DIR = "text"
INDEX_NAME = "index.sqlite"
INDEXES_DIR = "indexes"
CDXJ_NAME = "index.cdxj"
REPORT_NAME = "report.jsonl"
#: The end reports of the crawls, one JSON file each, and a copy of the last one.
REPORTS_DIR = "reports"
LATEST_REPORT_NAME = "latest.json"
#: Where ``archiver reindex`` leaves a rebuilt index that holds less than the one in place.
REINDEXED_NAME = "index.reindexed.sqlite"
LOCK_NAME = "crawl.lock"


def default_root() -> str:
    """The archive folder when none is given: ``$ARCHIVER_DIR``, else ``archives``."""
    return os.environ.get("ARCHIVER_DIR") or DEFAULT_DIR


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths of one archive folder."""

    root: Path

    @classmethod
    def of(cls, settings: BaseSettings) -> Layout:
        """The archive folder of a crawl (``ARCHIVER_DIR``)."""
        return cls(Path(settings.get("ARCHIVER_DIR") or default_root()))

    @property
    def warc_dir(self) -> Path:
        return self.root / WARC_DIR

    @property
    def text_dir(self) -> Path:
        return self.root / TEXT_DIR

    @property
    def index(self) -> Path:
        return self.root / INDEX_NAME

    @property
    def reindexed(self) -> Path:
        return self.root / REINDEXED_NAME

    @property
    def indexes_dir(self) -> Path:
        return self.root / INDEXES_DIR

    @property
    def cdxj(self) -> Path:
        return self.indexes_dir / CDXJ_NAME

    @property
    def report(self) -> Path:
        return self.root / REPORT_NAME

    @property
    def reports_dir(self) -> Path:
        return self.root / REPORTS_DIR

    def crawl_report(self, crawl_id: int) -> Path:
        """The end report of crawl ``crawl_id``: ``reports/crawl-<crawl id>.json``."""
        return self.reports_dir / f"crawl-{crawl_id}.json"

    @property
    def latest_report(self) -> Path:
        """A copy of the last crawl's end report, for monitoring scheduled runs."""
        return self.reports_dir / LATEST_REPORT_NAME

    @property
    def lock(self) -> Path:
        return self.root / LOCK_NAME

    def text_relative(self, name: str) -> str:
        """How the index names a text file: relative to the archive folder, ``/``-separated."""
        return f"{TEXT_DIR}/{name}"

    def resolve(self, relative: str) -> Path:
        """A path the index holds (relative to the archive folder) on disk."""
        return self.root / relative
