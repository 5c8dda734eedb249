"""The archive of one crawl: WARC records and the index rows that point at them.

Every write goes to the WARC file first; the index row follows only once the
record is on disk, so the index never points at something that is not there.

An exchange goes in in three steps, so that the heavy one can run in another
thread: :meth:`Archive.start_exchange` (the index lookup for revisits, record
ids), :func:`prepare_exchange` (digests, records, gzip: pure) and
:meth:`Archive.commit_exchange` (appending to the file, the index row).
:meth:`Archive.add_exchange` does all three at once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import surt

from crawler.index import CaptureRow, GoodCapture, Index, SeedRow
from crawler.warc.exchange import header_value, media_type
from crawler.warc.reader import IDENTICAL_PAYLOAD, SERVER_NOT_MODIFIED
from crawler.warc.records import (
    CAPTURE_URI_PREFIX,
    CRAWL_URI_PREFIX,
    SEED_URI_PREFIX,
    TEXT_OUTCOME_URI_PREFIX,
    conversion_record,
    json_metadata_record,
    metadata_record,
    new_record_id,
    request_record,
    response_record,
    revisit_record,
    sha1_digest,
    warc_date,
)
from crawler.warc.writer import serialize_for

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime
    from pathlib import Path
    from typing import Any

    from crawler.warc.exchange import Exchange, SentRequest
    from crawler.warc.writer import Serialized, WarcFileWriter

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Capture:
    """An archived record, as the rest of the crawl refers to it."""

    capture_id: int  #: row id in the index
    record_id: str
    url: str
    fetched_at: str
    warc_file: str
    #: For a revisit: the record id of the original response it stands for.
    revisit_of: str | None = None
    #: For a revisit: its profile (``identical-payload-digest`` or ``server-not-modified``).
    profile: str | None = None
    #: Whether the URL had a good capture before this one (for the crawl-end counts).
    seen_before: bool = False
    #: The row belongs to an earlier crawl (a replay into the archive it replays): this
    #: crawl leaves it as it is.
    reused: bool = False
    warc_offset: int | None = None  #: where the record starts in ``warc_file``


def as_json(value: Mapping[str, Any]) -> str:
    """How the index keeps settings and stats: JSON, keys sorted, odd values as text."""
    return json.dumps(value, sort_keys=True, default=str)


#: The request headers that make a request conditional.
CONDITIONAL_HEADERS = (b"if-none-match", b"if-modified-since")


@dataclass(frozen=True, slots=True)
class PendingExchange:
    """An exchange on its way into the archive: the URL's last good capture, its record ids."""

    exchange: Exchange
    #: The capture a revisit would refer to (None: revisits off, or a first capture).
    previous: GoodCapture | None
    request_id: str
    response_id: str


@dataclass(frozen=True, slots=True)
class PreparedExchange:
    """An exchange's two records, digested and compressed for one WARC file."""

    pending: PendingExchange
    #: The revisit profile, or None for a full response.
    profile: str | None
    #: The ``WARC-Payload-Digest`` of the response (or revisit) record.
    payload_digest: str | None
    serialized: Serialized


def prepare_exchange(
    pending: PendingExchange, warcinfo_id: str, gzip_level: int, spool_dir: Path | None = None
) -> PreparedExchange:
    """Digest the body, build the records and compress them for the file ``warcinfo_id``.

    Pure and thread-safe (no index, no WARC file): the heavy part of archiving a
    large response, run off the reactor. The body is digested once.
    """
    exchange, previous = pending.exchange, pending.previous
    request_id, response_id = pending.request_id, pending.response_id
    body_digest = sha1_digest(exchange.body)
    profile = _revisit_profile(exchange, previous, body_digest)
    request = request_record(exchange, record_id=request_id, concurrent_to=response_id)
    if profile is not None and previous is not None:
        digest = previous.payload_digest
        response = revisit_record(
            exchange,
            record_id=response_id,
            concurrent_to=request_id,
            profile=profile,
            payload_digest=digest,
            refers_to=previous.record_id,
            refers_to_url=previous.url,
            refers_to_date=previous.original_fetched_at,
        )
    else:
        digest = body_digest
        response = response_record(
            exchange, record_id=response_id, concurrent_to=request_id, payload_digest=digest
        )
    serialized = serialize_for([request, response], warcinfo_id, gzip_level, spool_dir=spool_dir)
    return PreparedExchange(pending, profile, digest, serialized)


def _revisit_profile(
    exchange: Exchange, previous: GoodCapture | None, body_digest: str
) -> str | None:
    """The revisit profile ``exchange`` is archived with, or None for a full response."""
    if previous is None or exchange.method != "GET" or exchange.truncated:
        return None
    if exchange.status == 304:
        # Not modified since the capture whose validators were sent; a 304 to anything
        # else (no validators, or another URL's carried by a redirect) is no revisit of it.
        sent = {header_value(exchange.request_headers, name) for name in CONDITIONAL_HEADERS} - {
            None
        }
        ours = {
            value.encode("latin-1") for value in (previous.etag, previous.last_modified) if value
        }
        return SERVER_NOT_MODIFIED if sent and sent <= ours else None
    if exchange.status == 200 and previous.payload_digest == body_digest:
        return IDENTICAL_PAYLOAD
    return None


def _reason(exchange: Exchange, profile: str | None) -> str | None:
    if exchange.truncated:
        return f"truncated: {exchange.truncated}"
    return None if profile is None else f"revisit: {profile}"


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
        crawl_uuid: str = "",
        new_id: Callable[[], str] = new_record_id,
    ) -> None:
        self.writer = writer
        self.index = index
        self.crawl_id = crawl_id
        #: Names the crawl in its WARC files (warcinfo and metadata records).
        self.crawl_uuid = crawl_uuid
        self._new_id = new_id

    def add_exchange(self, exchange: Exchange, *, revisits: bool = True) -> Capture:
        """Archive a request and its response; index the response.

        With ``revisits``, a response that repeats the URL's last good capture
        (the same payload, or a 304 to our conditional request) is archived as a
        ``revisit`` record that refers to the original response.
        """
        pending = self.start_exchange(exchange, revisits=revisits)
        writer = self.writer
        prepared = prepare_exchange(pending, writer.ready(), writer.gzip_level, writer.directory)
        capture = self.commit_exchange(prepared)
        assert capture is not None  # made for the current file, nothing written in between
        return capture

    def start_exchange(self, exchange: Exchange, *, revisits: bool = True) -> PendingExchange:
        """The first step of :meth:`add_exchange`: what a revisit would refer to, record ids."""
        previous = self.index.last_good(exchange.url) if revisits else None
        return PendingExchange(exchange, previous, self._new_id(), self._new_id())

    def commit_exchange(self, prepared: PreparedExchange) -> Capture | None:
        """The last step of :meth:`add_exchange`: append the records, index the response.

        None when the records were made for a WARC file that was rotated meanwhile:
        :func:`prepare_exchange` must make them again for the current one.
        """
        locations = self.writer.append(prepared.serialized)
        if locations is None:
            return None
        _, location = locations
        pending, profile = prepared.pending, prepared.profile
        exchange, previous = pending.exchange, pending.previous
        fetched_at = warc_date(exchange.started)
        location_header = header_value(exchange.response_headers, b"location")
        etag = header_value(exchange.response_headers, b"etag")
        modified = header_value(exchange.response_headers, b"last-modified")
        row = CaptureRow(
            url=exchange.url,
            urlkey=url_key(exchange.url),
            fetched_at=fetched_at,
            record_type="response" if profile is None else "revisit",
            warc_file=location.filename,
            warc_offset=location.offset,
            warc_length=location.length,
            record_id=pending.response_id,
            status=exchange.status,
            mime=media_type(exchange.response_headers),
            payload_digest=prepared.payload_digest,
            # A revisit stores no body (what a reindex reads back from it).
            payload_length=len(exchange.body) if profile is None else 0,
            request_record_id=pending.request_id,
            location=location_header.decode("latin-1") if location_header else None,
            reason=_reason(exchange, profile),
            etag=etag.decode("latin-1") if etag else None,
            last_modified=modified.decode("latin-1") if modified else None,
            refers_to=previous.record_id if profile and previous else None,
        )
        capture_id = self.index.add_capture(self.crawl_id, row)
        return Capture(
            capture_id=capture_id,
            record_id=pending.response_id,
            url=exchange.url,
            fetched_at=fetched_at,
            warc_file=location.filename,
            revisit_of=row.refers_to,
            profile=profile,
            seen_before=previous is not None,
            warc_offset=location.offset,
        )

    def add_failure(
        self,
        url: str,
        date: datetime,
        fields: Mapping[str, str],
        reason: str,
        request: SentRequest | None = None,
    ) -> Capture:
        """Archive a fetch that produced no response, as a ``metadata`` record.

        ``request``, when it reached the server, is archived beside it as the
        ``request`` record it was, concurrent to the ``metadata`` record.
        """
        record_id = self._new_id()
        records = [metadata_record(url=url, date=date, fields=fields, record_id=record_id)]
        request_id = None
        if request is not None:
            request_id = self._new_id()
            records.append(request_record(request, record_id=request_id, concurrent_to=record_id))
        location, *_ = self.writer.write(records)
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
            request_record_id=request_id,
        )
        capture_id = self.index.add_capture(self.crawl_id, row)
        return Capture(
            capture_id,
            record_id,
            url,
            row.fetched_at,
            location.filename,
            warc_offset=location.offset,
        )

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
            url=capture.url,
            date=date,
            text=text,
            refers_to=capture.record_id,
            record_id=record_id,
            refers_to_date=capture.fetched_at,
        )
        self.writer.write([record])
        return record_id

    # -- what the index holds that no HTTP record holds -----------------------
    # Each goes to the WARC first (one small JSON metadata record), so that
    # ``archiver reindex`` can give every table back from the WARC files alone.

    def _add_json(
        self, url: str, date: datetime, data: Mapping[str, Any], refers_to: str | None = None
    ) -> str:
        record_id = self._new_id()
        record = json_metadata_record(
            url=url, date=date, data=data, record_id=record_id, refers_to=refers_to
        )
        self.writer.write([record])
        return record_id

    def record_crawl_start(
        self,
        date: datetime,
        *,
        started_at: str,
        spider: str,
        input: str | None,
        settings: Mapping[str, Any],
    ) -> str:
        """Archive the crawl's ``crawls`` row as it starts (with its number in the index)."""
        data = {
            "event": "start",
            "crawl": self.crawl_uuid,
            "number": self.crawl_id,
            "started_at": started_at,
            "spider": spider,
            "input": input,
            "settings": json.loads(as_json(settings)),
        }
        return self._add_json(CRAWL_URI_PREFIX + self.crawl_uuid, date, data)

    def record_crawl_end(
        self, date: datetime, *, finished_at: str, reason: str, stats: Mapping[str, Any]
    ) -> str:
        """Archive how the crawl ended, before its last WARC file is closed."""
        data = {
            "event": "end",
            "crawl": self.crawl_uuid,
            "number": self.crawl_id,
            "finished_at": finished_at,
            "finish_reason": reason,
            "stats": json.loads(as_json(stats)),
        }
        return self._add_json(CRAWL_URI_PREFIX + self.crawl_uuid, date, data)

    def add_elsewhere(self, row: CaptureRow, date: datetime) -> int:
        """Index a capture whose record lies in another archive (replayed from it).

        No record of this archive holds it, so the row itself is archived.
        """
        data = {"crawl": self.crawl_uuid, **asdict(row)}
        self._add_json(CAPTURE_URI_PREFIX + row.record_id, date, data, refers_to=row.record_id)
        return self.index.add_capture(self.crawl_id, row)

    def add_seed(self, row: SeedRow, date: datetime) -> int:
        """Archive and index what became of an input entry."""
        data: dict[str, Any] = {"crawl": self.crawl_uuid, **asdict(row)}
        capture_record = None
        if row.capture_id is not None:
            found = list(
                self.index.query("SELECT record_id FROM captures WHERE id = ?", (row.capture_id,))
            )
            capture_record = found[0]["record_id"] if found else None
        # Row ids differ between indexes; the record id names the capture everywhere.
        del data["capture_id"]
        data["capture"] = capture_record
        self._add_json(SEED_URI_PREFIX + self.crawl_uuid, date, data, refers_to=capture_record)
        return self.index.add_seed(self.crawl_id, row)

    def set_text_outcome(self, capture: Capture, date: datetime, **fields: Any) -> int:
        """Archive and index what text extraction gave for ``capture``."""
        data = {"crawl": self.crawl_uuid, "capture": capture.record_id, **fields}
        self._add_json(
            TEXT_OUTCOME_URI_PREFIX + capture.url, date, data, refers_to=capture.record_id
        )
        return self.index.set_text_outcome(capture.capture_id, **fields)

    def close(self) -> None:
        self.writer.close()
