"""The archive of one crawl: WARC records and the index rows that point at them.

Every write goes to the WARC file first; the index row follows only once the
record is on disk, so the index never points at something that is not there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import surt

from crawler.index import CaptureRow, Index
from crawler.warc.exchange import header_value, media_type
from crawler.warc.records import (
    conversion_record,
    metadata_record,
    new_record_id,
    request_record,
    response_record,
    warc_date,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from crawler.warc.exchange import Exchange
    from crawler.warc.writer import WarcFileWriter

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Capture:
    """An archived record, as the rest of the crawl refers to it."""

    capture_id: int  #: row id in the index
    record_id: str
    url: str
    fetched_at: str
    warc_file: str


def url_key(url: str) -> str:
    """The SURT form of ``url``, the sort key of CDX indexes."""
    try:
        return str(surt.surt(url))
    except Exception:  # surt raises several types on odd URLs
        logger.debug("no SURT for %s", url, exc_info=True)
        return url.lower()


class Archive:
    """Writes records to the WARC files and indexes them, for one crawl."""

    def __init__(
        self,
        writer: WarcFileWriter,
        index: Index,
        crawl_id: int,
        *,
        new_id: Callable[[], str] = new_record_id,
    ) -> None:
        self.writer = writer
        self.index = index
        self.crawl_id = crawl_id
        self._new_id = new_id

    def add_exchange(self, exchange: Exchange) -> Capture:
        """Archive a request and its response; index the response."""
        request_id, response_id = self._new_id(), self._new_id()
        request = request_record(exchange, record_id=request_id, concurrent_to=response_id)
        response = response_record(exchange, record_id=response_id, concurrent_to=request_id)
        _, location = self.writer.write([request, response])
        fetched_at = warc_date(exchange.started)
        digest = response.rec_headers.get_header("WARC-Payload-Digest")
        location_header = header_value(exchange.response_headers, b"location")
        row = CaptureRow(
            url=exchange.url,
            urlkey=url_key(exchange.url),
            fetched_at=fetched_at,
            record_type="response",
            warc_file=location.filename,
            warc_offset=location.offset,
            warc_length=location.length,
            record_id=response_id,
            status=exchange.status,
            mime=media_type(exchange.response_headers),
            payload_digest=digest,
            payload_length=len(exchange.body),
            request_record_id=request_id,
            location=location_header.decode("latin-1") if location_header else None,
            reason=f"truncated: {exchange.truncated}" if exchange.truncated else None,
        )
        capture_id = self.index.add_capture(self.crawl_id, row)
        return Capture(
            capture_id=capture_id,
            record_id=response_id,
            url=exchange.url,
            fetched_at=fetched_at,
            warc_file=location.filename,
        )

    def add_failure(
        self, url: str, date: datetime, fields: Mapping[str, str], reason: str
    ) -> Capture:
        """Archive a fetch that produced no response, as a ``metadata`` record."""
        record_id = self._new_id()
        record = metadata_record(url=url, date=date, fields=fields, record_id=record_id)
        (location,) = self.writer.write([record])
        row = CaptureRow(
            url=url,
            urlkey=url_key(url),
            fetched_at=warc_date(date),
            record_type="metadata",
            warc_file=location.filename,
            warc_offset=location.offset,
            warc_length=location.length,
            record_id=record_id,
            reason=reason,
        )
        capture_id = self.index.add_capture(self.crawl_id, row)
        return Capture(capture_id, record_id, url, row.fetched_at, location.filename)

    def add_metadata(
        self,
        url: str,
        date: datetime,
        fields: Mapping[str, str],
        *,
        refers_to: str | None = None,
    ) -> str:
        """Archive a ``metadata`` record that links records together; return its id."""
        record_id = self._new_id()
        record = metadata_record(
            url=url,
            date=date,
            fields=fields,
            record_id=record_id,
            refers_to=refers_to,
        )
        self.writer.write([record])
        return record_id

    def add_conversion(self, capture: Capture, text: str, date: datetime) -> str:
        """Archive text extracted from ``capture``; return the record id."""
        record_id = self._new_id()
        record = conversion_record(
            url=capture.url, date=date, text=text, refers_to=capture.record_id, record_id=record_id
        )
        self.writer.write([record])
        return record_id

    def close(self) -> None:
        self.writer.close()
