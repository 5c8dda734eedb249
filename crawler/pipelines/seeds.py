"""Record in the index what became of every input entry, count the changes, and hand on
one flat :class:`~crawler.items.EntryItem` per entry for feed exports.

An entry whose URL had credentials says so in its reason (never which ones):
:data:`~crawler.inputs.CREDENTIALS_SENT`. Entries that a component drops before
they get here are recorded the same way, by :class:`~crawler.extensions.ledger.InputLedger`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from crawler import changes
from crawler.extensions.archive import ArchiveExtension, archive_of
from crawler.extensions.ledger import InputLedger
from crawler.index import SeedRow
from crawler.inputs import CREDENTIALS_SENT, Rejected, Seed
from crawler.items import METADATA_FIELDS, ArchivedCopy, EntryItem, Page, SeedOutcome
from crawler.outcomes import InputOutcome

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


class SeedIndexPipeline:
    """Writes one ``seeds`` row per input entry: archived, failed, invalid, ..."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._archive: ArchiveExtension | None = None
        self._ledger: InputLedger | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def open_spider(self) -> None:
        self._archive = archive_of(self.crawler)
        self._ledger = self.crawler.get_extension(InputLedger)
        if self._ledger is not None:
            self._ledger.attach(self.record)
        stats = self.crawler.stats
        # Every count is in the stats, zeros too, so that each crawl's record has them all.
        for name in ("new", "changed", "unchanged", changes.FAILED, changes.NOT_DUE):
            stats.set_value(changes.STATS_PREFIX + name, 0)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, (Page, SeedOutcome)):
            return self.record(item)
        return item

    def record(self, item: Page | SeedOutcome) -> EntryItem:
        """Archive and index the outcome of ``item``'s input entry, and count it.

        The flat item it returns is what feed exports get for the entry.
        """
        assert self._archive is not None
        if self._ledger is not None:
            self._ledger.settle(item.seed)
        if isinstance(item, Page):
            copy = item.archived_copy
            if copy is not None:
                self._link_copy(item, copy)
            row = SeedRow(
                url=item.seed.url,
                source=item.seed.source,
                line=item.seed.line,
                position=item.seed.position,
                document=item.seed.document,
                outcome=InputOutcome.ARCHIVED,
                capture_id=item.capture.capture_id,
                final_url=item.url,
                text_path=item.text_path,
                reason=_page_reason(item, copy),
                archived_copy=copy.timestamp if copy is not None else None,
            )
        else:
            seed = item.seed
            row = SeedRow(
                url=seed.text if isinstance(seed, Rejected) else seed.url,
                source=seed.source,
                line=seed.line,
                position=seed.position,
                document=seed.document,
                outcome=item.outcome,
                reason=item.reason,
                capture_id=item.capture.capture_id if item.capture else None,
                final_url=item.url,
                text_path=item.text_path,
            )
        if isinstance(item.seed, Seed) and item.seed.authorized:
            row = replace(
                row, reason=f"{row.reason}; {CREDENTIALS_SENT}" if row.reason else CREDENTIALS_SENT
            )
        self._archive.record_seed(row)
        self.crawler.stats.inc_value(f"archiver/seeds/{row.outcome}")
        self._count(item)
        return _entry_item(row, item)

    def _count(self, item: Page | SeedOutcome) -> None:
        stats = self.crawler.stats
        if isinstance(item, Page):
            stats.inc_value(changes.STATS_PREFIX + changes.change_of(item.capture, item.change))
        elif item.outcome == InputOutcome.NOT_DUE:
            stats.inc_value(changes.STATS_PREFIX + changes.NOT_DUE)
        elif item.outcome not in changes.NOT_FAILURES:
            stats.inc_value(changes.STATS_PREFIX + changes.FAILED)
            group = changes.reason_group(item.reason)
            stats.inc_value(f"{changes.STATS_PREFIX}{changes.FAILED}/{group}")

    def _link_copy(self, page: Page, copy: ArchivedCopy) -> None:
        """Say in the archive that the replayed capture stands for the dead URL."""
        assert self._archive is not None
        fields = {
            "archived-copy-of": page.seed.url,
            "via": copy.replay_url,
            "wayback-timestamp": copy.timestamp,
            "original-failure": copy.failure,
        }
        if copy.failure_capture is not None:
            fields["original-failure-record"] = copy.failure_capture.record_id
        self._archive.record_link(page.seed.url, fields, refers_to=page.capture.record_id)
        self.crawler.stats.inc_value("archiver/seeds/archived_copies")


def _page_reason(page: Page, copy: ArchivedCopy | None) -> str | None:
    """A fetched page's seed reason: what its text says, and that an archived copy stood in."""
    if copy is None:
        return page.text_reason
    used = f"{copy.failure} (archived copy used)"
    return f"{used}; {page.text_reason}" if page.text_reason else used


def _entry_item(row: SeedRow, item: Page | SeedOutcome) -> EntryItem:
    """The feed row of an entry: its seeds row, and the page's status, metadata and record."""
    metadata = item.metadata if isinstance(item, Page) else {}
    status = item.status if isinstance(item, Page) else item.http_status
    capture = item.capture
    return EntryItem(
        url=row.url,
        outcome=str(row.outcome),
        reason=row.reason,
        final_url=row.final_url,
        status=status,
        **{name: metadata.get(name) for name in METADATA_FIELDS},
        text_path=row.text_path,
        change=item.change if isinstance(item, Page) else None,
        warc_file=capture.warc_file if capture else None,
        warc_offset=capture.warc_offset if capture else None,
        fetched_at=capture.fetched_at if capture else None,
        archived_copy=row.archived_copy,
        source=row.source,
        line=row.line,
        position=row.position,
        document=row.document,
    )
