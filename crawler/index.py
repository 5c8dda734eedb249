"""The index: an SQLite file that says what was fetched, when, where it is, what became of it.

It is a cache of the WARC files: every capture row points at its records by
file, offset and length, and ``archiver reindex`` (:mod:`crawler.reindex`)
gives every table back from the WARC files alone. Tables:

- ``crawls``: one row per crawl, with its settings and final stats;
- ``captures``: one row per archived response or failed fetch, with its WARC
  location, record ids and, for pages, what the text extraction gave;
- ``seeds``: one row per input entry (a line of a URL list, a corpus document)
  with its outcome: archived, failed, invalid, duplicate, forbidden by robots.txt;
- ``failures`` (a view): the seeds that produced nothing, with their reasons.

Schema 2 (recrawls) added to ``captures`` the validators of each response
(``etag``, ``last_modified``), the original a revisit stands for
(``refers_to``) and each text version's digest and words (``text_digest``,
``text_words``). An index of schema 1 is migrated in place when opened: the
columns are added, empty for the old rows, and nothing is lost.

Writes are batched: the owner calls :meth:`Index.commit` now and then and at the end.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS crawls (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    spider TEXT NOT NULL,
    input TEXT,
    settings TEXT NOT NULL,
    stats TEXT,
    finish_reason TEXT
);
CREATE TABLE IF NOT EXISTS captures (
    id INTEGER PRIMARY KEY,
    crawl_id INTEGER NOT NULL REFERENCES crawls(id),
    url TEXT NOT NULL,
    urlkey TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    record_type TEXT NOT NULL,
    status INTEGER,
    mime TEXT,
    payload_digest TEXT,
    payload_length INTEGER,
    warc_file TEXT NOT NULL,
    warc_offset INTEGER NOT NULL,
    warc_length INTEGER NOT NULL,
    record_id TEXT NOT NULL UNIQUE,
    request_record_id TEXT,
    location TEXT,
    reason TEXT,
    text_outcome TEXT,
    text_reason TEXT,
    text_path TEXT,
    title TEXT,
    published TEXT,
    site_name TEXT,
    author TEXT,
    language TEXT,
    text_chars INTEGER,
    conversion_record_id TEXT,
    etag TEXT,
    last_modified TEXT,
    refers_to TEXT,
    text_digest TEXT,
    text_words INTEGER
);
CREATE INDEX IF NOT EXISTS captures_urlkey ON captures (urlkey, fetched_at);
CREATE INDEX IF NOT EXISTS captures_crawl ON captures (crawl_id);
CREATE INDEX IF NOT EXISTS captures_url ON captures (url, fetched_at);
CREATE TABLE IF NOT EXISTS seeds (
    crawl_id INTEGER NOT NULL REFERENCES crawls(id),
    position INTEGER,
    url TEXT NOT NULL,
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    document TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    capture_id INTEGER REFERENCES captures(id),
    final_url TEXT,
    text_path TEXT,
    archived_copy TEXT
);
CREATE INDEX IF NOT EXISTS seeds_crawl ON seeds (crawl_id, position);
CREATE VIEW IF NOT EXISTS failures AS
    SELECT crawl_id, url, source, line, document, outcome, reason
    FROM seeds WHERE outcome NOT IN ('archived', 'duplicate', 'not_due');
"""

#: What takes an index of each older schema to the next one. Columns are only ever
#: added: an archive made by an older release opens in this one without loss.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE captures ADD COLUMN etag TEXT",
        "ALTER TABLE captures ADD COLUMN last_modified TEXT",
        "ALTER TABLE captures ADD COLUMN refers_to TEXT",
        "ALTER TABLE captures ADD COLUMN text_digest TEXT",
        "ALTER TABLE captures ADD COLUMN text_words INTEGER",
        # The view is created anew by the schema script, with the outcomes of schema 2.
        "DROP VIEW IF EXISTS failures",
    ),
}

#: A capture that counts as the URL's last good one: a 200, or a revisit of one.
_GOOD = "((c.record_type = 'response' AND c.status = 200) OR c.record_type = 'revisit')"


@dataclass(frozen=True, slots=True)
class CaptureRow:
    """What the index keeps of one archived record."""

    url: str
    urlkey: str
    fetched_at: str
    record_type: str
    warc_file: str
    warc_offset: int
    warc_length: int
    record_id: str
    status: int | None = None
    mime: str | None = None
    payload_digest: str | None = None
    payload_length: int | None = None
    request_record_id: str | None = None
    location: str | None = None
    reason: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    #: For a revisit: the record id of the original response (never of another revisit).
    refers_to: str | None = None


@dataclass(frozen=True, slots=True)
class GoodCapture:
    """A URL's last good capture, resolved to the original response it stands for."""

    url: str
    fetched_at: str  #: of the last good capture (the revisit, when it is one)
    record_id: str  #: of the original response
    original_fetched_at: str  #: WARC-Date of the original response
    payload_digest: str | None
    etag: str | None
    last_modified: str | None
    warc_file: str  #: of the original response
    warc_offset: int
    warc_length: int


@dataclass(frozen=True, slots=True)
class TextVersion:
    """The text a URL's last text-bearing capture gave."""

    capture_id: int
    fetched_at: str
    record_id: str  #: of the capture that gave (or repeated) the text
    refers_to: str | None  #: for a revisit: the original it repeats
    text_digest: str | None
    text_words: int | None
    conversion_record_id: str | None
    text_path: str | None
    title: str | None
    version: int  #: 1 for the oldest text version of the URL
    published: str | None = None
    site_name: str | None = None
    author: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class SeedRow:
    """What became of one input entry."""

    url: str
    source: str
    line: int
    outcome: str
    position: int | None = None
    document: str | None = None
    reason: str | None = None
    capture_id: int | None = None
    final_url: str | None = None
    text_path: str | None = None
    archived_copy: str | None = None  #: timestamp of the web archive capture used instead


#: Every ``seeds`` row that names a text file, ranked: ``latest = 1`` is the row of the
#: latest crawl, the one whose text the file holds (``archiver extract`` and ``merge``).
LATEST_TEXT_SEEDS = """
    SELECT *, ROW_NUMBER() OVER (
        PARTITION BY text_path ORDER BY crawl_id DESC, rowid DESC
    ) AS latest
    FROM seeds WHERE text_path IS NOT NULL
"""


def read_only(
    path: Path, *, check_same_thread: bool = True, tidy: bool = False
) -> sqlite3.Connection:
    """A connection to the index at ``path`` that only reads it (rows as sqlite3.Row).

    What reads an archive (replay, extract, export, reindex's comparison) never
    changes it, nor migrates an index of an older schema. sqlite3.Error if unusable.
    ``tidy``, for a folder this process holds (a crawl's own end report), opens it
    read-write, though only to read, so that closing the last connection removes
    the WAL files that a read-only one leaves behind.
    """
    mode = "rw" if tidy else "ro"
    db = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode={mode}", uri=True, check_same_thread=check_same_thread
    )
    db.row_factory = sqlite3.Row
    return db


class UnusableIndexError(Exception):
    """The index file cannot be used."""


class Index:
    """Read and write ``index.sqlite``. Not thread-safe: use it from one thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level="DEFERRED")
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._set_up_schema()
        except sqlite3.DatabaseError as exc:
            raise UnusableIndexError(f"cannot open index {path}: {exc}") from exc

    def _set_up_schema(self) -> None:
        """Create or migrate the schema in one transaction that holds the write lock.

        Two processes opening an old index at once must not both migrate it, and a
        migration cut short must leave the old schema whole: the version is read,
        the columns added, the tables made and the version set, all or nothing.
        """
        db = self._db
        db.isolation_level = None  # explicit transaction: DDL included
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise UnusableIndexError(
                        f"{self.path} was written by a newer version "
                        f"(schema {version} > {SCHEMA_VERSION})"
                    )
                if version:
                    self._migrate(version)
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        finally:
            db.isolation_level = "DEFERRED"

    def _migrate(self, version: int) -> None:
        """Bring an index of schema ``version`` up to :data:`SCHEMA_VERSION` (in a transaction).

        Columns already there (an index half-migrated by an older release) are not added again.
        """
        present = {row[1] for row in self._db.execute("PRAGMA table_info(captures)")}
        for old in range(version, SCHEMA_VERSION):
            for sql in _MIGRATIONS[old]:
                words = sql.split()
                adds = words[:5] == ["ALTER", "TABLE", "captures", "ADD", "COLUMN"]
                if adds and words[5] in present:
                    continue
                self._db.execute(sql)

    def close(self) -> None:
        self._db.commit()
        self._db.close()

    def commit(self) -> None:
        self._db.commit()

    def start_crawl(
        self, *, started_at: str, spider: str, input: str | None, settings: Mapping[str, Any]
    ) -> int:
        cursor = self._db.execute(
            "INSERT INTO crawls (started_at, spider, input, settings) VALUES (?, ?, ?, ?)",
            (started_at, spider, input, json.dumps(settings, sort_keys=True, default=str)),
        )
        self._db.commit()
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_crawl(
        self, crawl_id: int, *, finished_at: str, reason: str, stats: Mapping[str, Any]
    ) -> None:
        self._db.execute(
            "UPDATE crawls SET finished_at = ?, finish_reason = ?, stats = ? WHERE id = ?",
            (finished_at, reason, json.dumps(stats, sort_keys=True, default=str), crawl_id),
        )
        self._db.commit()

    def add_capture(self, crawl_id: int, row: CaptureRow) -> int:
        values = asdict(row)
        columns = ", ".join(["crawl_id", *values])
        marks = ", ".join("?" * (len(values) + 1))
        cursor = self._db.execute(
            f"INSERT INTO captures ({columns}) VALUES ({marks})",
            (crawl_id, *values.values()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def set_text_outcome(self, capture_id: int, **fields: Any) -> int:
        """Record what text extraction gave for a capture (``text_*``, title, ...)."""
        allowed = {
            "text_outcome",
            "text_reason",
            "text_path",
            "title",
            "published",
            "site_name",
            "author",
            "language",
            "text_chars",
            "conversion_record_id",
            "text_digest",
            "text_words",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not text outcome columns: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        return self._db.execute(
            f"UPDATE captures SET {assignments} WHERE id = ?",
            (*fields.values(), capture_id),
        ).rowcount

    def add_seed(self, crawl_id: int, row: SeedRow) -> int:
        values = asdict(row)
        columns = ", ".join(["crawl_id", *values])
        marks = ", ".join("?" * (len(values) + 1))
        cursor = self._db.execute(
            f"INSERT INTO seeds ({columns}) VALUES ({marks})",
            (crawl_id, *values.values()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def earlier_crawls(self, spider: str, input: str, before: int) -> list[tuple[int, str | None]]:
        """(id, finish reason) of the crawls of ``input`` before crawl ``before``, newest first."""
        rows = self._db.execute(
            "SELECT id, finish_reason FROM crawls WHERE spider = ? AND input = ? AND id < ? "
            "ORDER BY id DESC",
            (spider, input, before),
        )
        return [(crawl_id, reason) for crawl_id, reason in rows]

    def resumable_done(self, spider: str, input: str, *, before: int) -> set[int] | None:
        """Entries of ``input`` done by the crawls since its last complete one; None: all.

        A crawl is complete when it reached its end (finish reason "finished");
        when the latest crawl of the input is complete, there is nothing to resume.
        An entry left ``incomplete`` (its text file could not be written) is not done.
        """
        done: set[int] = set()
        for index, (crawl_id, reason) in enumerate(self.earlier_crawls(spider, input, before)):
            if reason == "finished":
                return None if index == 0 else done
            done |= self.seed_positions([crawl_id])
        return done

    def seed_positions(self, crawl_ids: list[int]) -> set[int]:
        """Positions of the input entries seen through in these crawls (not ``incomplete``)."""
        marks = ", ".join("?" * len(crawl_ids))
        rows = self._db.execute(
            f"SELECT DISTINCT position FROM seeds WHERE crawl_id IN ({marks}) "
            "AND outcome != 'incomplete'",
            crawl_ids,
        )
        return {position for (position,) in rows if position is not None}

    # -- recrawls ----------------------------------------------------------------

    def last_good(self, url: str) -> GoodCapture | None:
        """The last good capture of ``url`` (a 200 response or a revisit of one), if any."""
        row = self._db.execute(
            "SELECT c.url, c.fetched_at, c.record_type, c.etag, c.last_modified, "
            "o.record_id AS o_id, o.fetched_at AS o_at, o.payload_digest AS o_digest, "
            "o.etag AS o_etag, o.last_modified AS o_modified, o.warc_file AS o_file, "
            "o.warc_offset AS o_offset, o.warc_length AS o_length "
            "FROM captures c JOIN captures o "
            "ON o.record_id = CASE WHEN c.record_type = 'revisit' THEN c.refers_to "
            "ELSE c.record_id END "
            f"WHERE c.url = ? AND {_GOOD} AND o.record_type = 'response' "
            # A replay's row of another archive's record: no revisit may refer to it.
            "AND o.warc_file NOT LIKE '/%' AND c.warc_file NOT LIKE '/%' "
            "ORDER BY c.fetched_at DESC, c.id DESC LIMIT 1",
            (url,),
        ).fetchone()
        if row is None:
            return None
        return GoodCapture(
            url=row["url"],
            fetched_at=row["fetched_at"],
            record_id=row["o_id"],
            original_fetched_at=row["o_at"],
            payload_digest=row["o_digest"],
            # A 304 may bring new validators; otherwise the original's hold.
            etag=row["etag"] or row["o_etag"],
            last_modified=row["last_modified"] or row["o_modified"],
            warc_file=row["o_file"],
            warc_offset=row["o_offset"],
            warc_length=row["o_length"],
        )

    def final_url(self, url: str) -> str | None:
        """Where the input URL ``url`` last led (after redirects), if it was archived."""
        row = self._db.execute(
            "SELECT c.url FROM seeds s JOIN captures c ON c.id = s.capture_id "
            "WHERE s.url = ? AND s.outcome = 'archived' ORDER BY s.rowid DESC LIMIT 1",
            (url,),
        ).fetchone()
        return None if row is None else str(row[0])

    def last_text(self, url: str, *, before: int | None = None) -> TextVersion | None:
        """The text version the latest text-bearing capture of ``url`` has (written or repeated)."""
        limit = "" if before is None else f"AND id != {int(before)}"
        row = self._db.execute(
            "SELECT id, fetched_at, record_id, refers_to, text_digest, text_words, "
            "conversion_record_id, text_path, title, published, site_name, author, language "
            "FROM captures WHERE url = ? AND conversion_record_id IS NOT NULL "
            f"AND text_outcome IN ('written', 'unchanged') {limit} "
            "ORDER BY fetched_at DESC, id DESC LIMIT 1",
            (url,),
        ).fetchone()
        if row is None:
            return None
        (version,) = self._db.execute(
            "SELECT COUNT(*) FROM captures WHERE url = ? AND text_outcome = 'written' "
            "AND conversion_record_id IS NOT NULL AND (fetched_at < ? OR "
            "(fetched_at = ? AND id <= ?)) ",
            (url, row["fetched_at"], row["fetched_at"], row["id"]),
        ).fetchone()
        return TextVersion(
            capture_id=row["id"],
            fetched_at=row["fetched_at"],
            record_id=row["record_id"],
            refers_to=row["refers_to"],
            text_digest=row["text_digest"],
            text_words=row["text_words"],
            conversion_record_id=row["conversion_record_id"],
            text_path=row["text_path"],
            title=row["title"],
            version=int(version),
            published=row["published"],
            site_name=row["site_name"],
            author=row["author"],
            language=row["language"],
        )

    # -- rebuilding (``archiver reindex``) --------------------------------------

    def add_crawl(
        self,
        crawl_id: int,
        *,
        started_at: str,
        spider: str,
        input: str | None,
        settings: str,
        finished_at: str | None = None,
        stats: str | None = None,
        finish_reason: str | None = None,
    ) -> None:
        """A ``crawls`` row with its number, settings and stats already as JSON text."""
        self._db.execute(
            "INSERT INTO crawls (id, started_at, finished_at, spider, input, settings, stats, "
            "finish_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (crawl_id, started_at, finished_at, spider, input, settings, stats, finish_reason),
        )

    def renumber_crawl(self, old: int, new: int) -> None:
        """Move the captures and seeds of crawl ``old`` to crawl ``new``."""
        for table in ("captures", "seeds"):
            self._db.execute(f"UPDATE {table} SET crawl_id = ? WHERE crawl_id = ?", (new, old))

    def capture_id_of(self, record_id: str) -> int | None:
        """The row id of the capture of record ``record_id``."""
        row = self._db.execute(
            "SELECT id FROM captures WHERE record_id = ?", (record_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def set_request_record(self, record_id: str, request_record_id: str) -> int:
        """Name the request of a capture whose response did not name it."""
        return self._db.execute(
            "UPDATE captures SET request_record_id = ? "
            "WHERE record_id = ? AND request_record_id IS NULL",
            (request_record_id, record_id),
        ).rowcount

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[sqlite3.Row]:
        """Run a read-only query (for reports, tests and tools)."""
        yield from self._db.execute(sql, params)
