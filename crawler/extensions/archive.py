"""Capture every HTTP exchange of a crawl into WARC files and index it.

The capture listens to ``response_downloaded``, which Scrapy sends right after
the download handler and before any downloader middleware: the archive sees
robots.txt, every redirect hop and retry, error pages, and bodies still
content-coded as they came over the wire. A record that cannot be written stops
the crawl (``archiver_write_error``); a response whose exchange is not in the
archive never counts as fetched (see :mod:`crawler.downloadermiddlewares.guard`).

A body over :data:`ARCHIVE_IN_THREAD_ABOVE` (:data:`STORED_IN_THREAD_ABOVE` when
it is compressed already, so stored as it is) is digested and compressed in
another thread, so that the reactor goes on serving every other download
meanwhile; ``response_downloaded`` is sent synchronously, so it starts that work
and the guard middleware, the first to see each downloaded response, waits for
it (:meth:`ArchiveExtension.archive_response`) before anything else sees the
response. Appending the records to the file and the index row stay on the
reactor, in order. The work is started at the signal, not by the guard, so that
an exchange is archived whatever a middleware closer to the downloader does with
its response; the end of the crawl waits for it. Responses that a middleware made
up (an HTTP cache) were never downloaded and are not archived.
"""

from __future__ import annotations

import logging
import platform
import socket
import sqlite3
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urldefrag
from weakref import WeakKeyDictionary

from scrapy import signals
from scrapy.utils.asyncio import create_looping_call, run_in_thread
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import Deferred, DeferredList

from crawler import __version__
from crawler.archive import Archive, Capture, prepare_exchange
from crawler.cdxj import write_cdxj_from_index
from crawler.extensions.exchange import exchange_of, header_pairs, redacted, started_at
from crawler.failures import describe, reached_server
from crawler.index import GoodCapture, Index, SeedRow, TextVersion, UnusableIndexError
from crawler.layout import Layout
from crawler.lock import FolderInUseError, acquire, held_here
from crawler.meta import CAPTURE_META, EXCHANGE_META, REPLAY_META
from crawler.recover import PROBLEMS_STATS as RECOVERY_PROBLEMS_STATS
from crawler.recover import Recovery, recover
from crawler.replay import REPLAYED_FLAG
from crawler.warc.exchange import UnansweredRequest, header_value
from crawler.warc.records import CRAWL_FIELD
from crawler.warc.writer import WarcFileWriter, compressed_payload

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.replay import Replayed
    from crawler.warc.exchange import Exchange

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

WRITE_ERROR_REASON = "archiver_write_error"
OPEN_ERROR_REASON = "archiver_open_error"
#: How often pending index rows are committed, in seconds.
INDEX_COMMIT_INTERVAL = 1.0
#: A response whose body is larger than this, in bytes, is digested and compressed in
#: another thread. A smaller one is archived on the reactor: it takes less time there
#: (about 0.3 ms for 64 KiB of HTML) than the trip to a thread and back.
ARCHIVE_IN_THREAD_ABOVE = 64 * 1024
#: The same for a body compressed already (content-coded, or a JPEG...), which the
#: record stores rather than deflates: digests and a copy, about 4 ms for 1 MiB. A
#: thread is not free either: while it holds the interpreter lock the reactor waits.
STORED_IN_THREAD_ABOVE = 1024 * 1024
#: How many times records made in a thread are made again for a file that rotated
#: meanwhile, before they are made on the reactor, where no rotation comes between.
MADE_AGAIN_LIMIT = 3

#: Scrapy settings worth keeping with each crawl, beside every ARCHIVER_* setting.
RECORDED_SETTINGS = (
    "BOT_NAME",
    "USER_AGENT",
    "ROBOTSTXT_OBEY",
    "CONCURRENT_REQUESTS",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "DOWNLOAD_DELAY",
    "RANDOMIZE_DOWNLOAD_DELAY",
    "AUTOTHROTTLE_ENABLED",
    "AUTOTHROTTLE_TARGET_CONCURRENCY",
    "DOWNLOAD_TIMEOUT",
    "DOWNLOAD_MAXSIZE",
    "RETRY_ENABLED",
    "RETRY_TIMES",
    "REDIRECT_MAX_TIMES",
    "COOKIES_ENABLED",
    "JOBDIR",
)


def _in_thread_above(exchange: Exchange) -> int:
    """The body size past which ``exchange`` is archived in a thread."""
    headers = exchange.response_headers
    stored = compressed_payload(
        header_value(headers, b"content-encoding"), header_value(headers, b"content-type")
    )
    return STORED_IN_THREAD_ABOVE if stored else ARCHIVE_IN_THREAD_ABOVE


def archive_of(crawler: Crawler) -> ArchiveExtension:
    """The crawl's archive extension, for the components that write through it.

    Available once the engine exists (from ``open_spider`` or the first request on).
    """
    extension = crawler.get_extension(ArchiveExtension)
    if extension is None:
        raise RuntimeError("the archiver's components need ArchiveExtension in EXTENSIONS")
    return extension


class ArchiveExtension:
    """Owns the crawl's WARC writer and index; archives each downloaded response."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.layout = Layout.of(settings)
        self.root = self.layout.root
        self.max_size = settings.getint("ARCHIVER_WARC_MAX_SIZE")
        self.prefix = settings.get("ARCHIVER_WARC_PREFIX")
        self.gzip_level = settings.getint("ARCHIVER_WARC_GZIP_LEVEL")
        self.operator = settings.get("ARCHIVER_OPERATOR") or ""
        self.collection = settings.get("ARCHIVER_COLLECTION") or ""
        self.user_agent = settings.get("USER_AGENT") or ""
        self.obey_robots = settings.getbool("ROBOTSTXT_OBEY")
        #: A replay crawl's source archive folder (ARCHIVER_REPLAY): its responses are not
        #: fetched, so they are not archived again.
        self.replay_root = settings.get("ARCHIVER_REPLAY") or ""
        #: Whether a response that repeats the URL's last good capture becomes a revisit.
        self.revisits = settings.getbool("ARCHIVER_REVISITS_ENABLED")
        #: Kept with the crawl in the index: every ARCHIVER_* setting and RECORDED_SETTINGS.
        self.recorded_settings = {name: settings.get(name) for name in RECORDED_SETTINGS}
        self.recorded_settings.update(
            {name: value for name, value in settings.items() if name.startswith("ARCHIVER_")}
        )
        if self.max_size <= 0:
            raise ValueError(f"ARCHIVER_WARC_MAX_SIZE must be positive, not {self.max_size}")
        if not 0 <= self.gzip_level <= 9:
            raise ValueError(f"ARCHIVER_WARC_GZIP_LEVEL must be 0-9, not {self.gzip_level}")
        self.archive: Archive | None = None
        self.index: Index | None = None
        self._archived: WeakKeyDictionary[Response, Capture] = WeakKeyDictionary()
        #: Responses whose large exchange is being archived in a thread: the guard awaits it.
        self._in_thread: dict[Response, Deferred[None]] = {}
        self._failed = False
        self._closed = False
        self._commit_task: Any = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.response_downloaded, signal=signals.response_downloaded)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    @property
    def failed(self) -> bool:
        """Whether the archive stopped taking records (a write failed, or it never opened)."""
        return self._failed

    # -- life cycle ---------------------------------------------------------

    def spider_opened(self, spider: Spider) -> None:
        try:
            # What a crawl killed in this folder left is repaired before anything is written.
            self._recover()
            self.index = Index(self.layout.index)
            started_at = datetime.now(UTC).isoformat()
            crawl_id = self.index.start_crawl(
                started_at=started_at,
                spider=spider.name,
                input=getattr(spider, "input_path", None),
                settings=self.recorded_settings,
            )
        except (OSError, sqlite3.Error, UnusableIndexError) as exc:
            # Nothing may be fetched without an archive to put it in.
            logger.error(
                "Cannot open the archive in %(root)s: %(error)s", {"root": self.root, "error": exc}
            )
            self._failed = True
            assert self.crawler.engine is not None
            deferred_from_coro(self.crawler.engine.close_spider_async(reason=OPEN_ERROR_REASON))
            return
        crawl_uuid = str(uuid.uuid4())
        writer = WarcFileWriter(
            self.layout.warc_dir,
            info={**self._warcinfo(crawl_id, spider), CRAWL_FIELD: crawl_uuid},
            prefix=self.prefix,
            max_size=self.max_size,
            gzip_level=self.gzip_level,
        )
        self.archive = Archive(writer, self.index, crawl_id, crawl_uuid=crawl_uuid)
        # The crawls row goes into the WARC too: a reindex gives it back.
        self._guarded(
            "the start of the crawl",
            lambda a: a.record_crawl_start(
                datetime.now(UTC),
                started_at=started_at,
                spider=spider.name,
                input=getattr(spider, "input_path", None),
                settings=self.recorded_settings,
            ),
        )
        self._commit_task = create_looping_call(self._commit)
        self._commit_task.start(INDEX_COMMIT_INTERVAL, now=False)
        logger.info(
            "Archiving crawl %(crawl)d into %(root)s", {"crawl": crawl_id, "root": self.root}
        )

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        # Large exchanges whose response a middleware dropped are still being archived.
        while self._in_thread:
            await maybe_deferred_to_future(DeferredList(list(self._in_thread.values())))
        self._closed = True
        if self._commit_task is not None and self._commit_task.running:
            self._commit_task.stop()
        if self.archive is None or self.index is None:
            return
        finished_at = datetime.now(UTC).isoformat()
        # One snapshot for the WARC and the index, so that a reindex gives the same row.
        stats = dict(self.crawler.stats.get_stats())
        if not self._failed:
            try:
                self.archive.record_crawl_end(
                    datetime.now(UTC), finished_at=finished_at, reason=reason, stats=stats
                )
            except Exception:
                logger.error("Could not archive the end of the crawl", exc_info=True)
                self.crawler.stats.inc_value("archiver/write_errors")
        try:
            self.archive.close()
        except OSError:
            logger.error("Could not close the WARC file", exc_info=True)
            self.crawler.stats.inc_value("archiver/warc/close_errors")
        try:
            self.index.finish_crawl(
                self.archive.crawl_id, finished_at=finished_at, reason=reason, stats=stats
            )
        except Exception:
            logger.error("Could not record the end of the crawl in the index", exc_info=True)
            self.crawler.stats.inc_value("archiver/index/finish_errors")
        else:
            self._write_cdxj()
        finally:
            self.index.close()

    def _recover(self) -> None:
        """Repair what a killed crawl left, under the folder's lock.

        The crawl command holds the lock already. A crawl started from Python code
        takes it for the repair, if it is free; if another process holds it, that
        process may be writing the files a repair would touch: no repair then.
        """
        if held_here(self.layout.lock):
            self._log_recovery(recover(self.layout))
            return
        try:
            lock = acquire(self.layout.lock)
        except FolderInUseError as exc:
            logger.warning("Not recovering %(root)s: %(error)s", {"root": self.root, "error": exc})
            return
        with lock:
            self._log_recovery(recover(self.layout))

    def _log_recovery(self, recovery: Recovery) -> None:
        if recovery.changed:
            logger.warning(
                "Recovered %(root)s after a crawl that stopped without closing it:\n%(report)s",
                {"root": self.root, "report": recovery.render()},
            )
        for problem in recovery.problems:
            self.crawler.stats.inc_value(RECOVERY_PROBLEMS_STATS)
            logger.error(
                "Not recovered in %(root)s: %(problem)s", {"root": self.root, "problem": problem}
            )

    def _write_cdxj(self) -> None:
        """Write the CDXJ index of the whole archive; a failure only costs a warning.

        It is written from the index's captures (one query), not from the WARC
        files: the end of a crawl must not read a large archive whole.
        """
        assert self.index is not None
        try:
            write_cdxj_from_index(self.layout, self.index)
        except Exception:
            logger.warning("Could not write %s", self.layout.cdxj, exc_info=True)
            self.crawler.stats.inc_value("archiver/cdxj/errors")

    def _warcinfo(self, crawl_id: int, spider: Spider) -> dict[str, str]:
        scrapy_version = version("scrapy")
        return {
            "software": (
                f"archiver/{__version__} (Scrapy/{scrapy_version}; warcio/{version('warcio')}; "
                f"{platform.python_implementation()}/{platform.python_version()})"
            ),
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "hostname": socket.gethostname(),
            "http-header-user-agent": self.user_agent,
            "robots": "obey" if self.obey_robots else "ignore",
            "operator": self.operator,
            "isPartOf": self.collection,
            "description": f"crawl {crawl_id} by spider {spider.name!r}"
            + (f" of {source}" if (source := getattr(spider, "input_path", None)) else ""),
            "platform": sys.platform,
        }

    # -- capture ------------------------------------------------------------

    def response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        request.meta.pop(CAPTURE_META, None)
        request.meta.pop(EXCHANGE_META, None)
        exchange = exchange_of(response, request)
        if REPLAYED_FLAG not in response.flags:
            if len(exchange.body) <= _in_thread_above(exchange):
                capture = self._guarded(
                    request.url, lambda a: a.add_exchange(exchange, revisits=self.revisits)
                )
                if capture is not None:
                    self._note(response, request, exchange, capture, replayed=False)
                return
            # Started now, so that the exchange is archived whatever a middleware does with
            # the response; this signal is sent synchronously and cannot wait for a thread.
            self._in_thread[response] = deferred_from_coro(
                self._archive_large(response, request, exchange)
            )
            return
        # Already in an archive: the capture is the record it came from, nothing is written.
        found: Replayed = request.meta[REPLAY_META]
        capture = self._guarded(request.url, lambda a: self._replayed_capture(a, found), "index")
        if capture is not None:
            self._note(response, request, exchange, capture, replayed=True)

    async def archive_response(self, response: Response) -> Capture | None:
        """The capture of ``response``, once its exchange is archived.

        None for a response that was not downloaded (a middleware made it up) or
        could not be archived (the crawl is then stopping).
        """
        if (task := self._in_thread.get(response)) is not None:
            await maybe_deferred_to_future(task)
        return self._archived.get(response)

    async def _archive_large(
        self, response: Response, request: Request, exchange: Exchange
    ) -> None:
        try:
            capture = await self._add_in_thread(request.url, exchange)
            if capture is not None:
                self._note(response, request, exchange, capture, replayed=False)
        finally:
            self._in_thread.pop(response, None)

    async def _add_in_thread(self, url: str, exchange: Exchange) -> Capture | None:
        """Archive an exchange whose body is digested and compressed in a thread."""
        archive = self.archive
        if archive is None or self._failed or self._closed:
            return None
        writer = archive.writer
        try:
            # The index is read on the reactor, before the thread: revisit detection
            # compares the body's digest with the URL's last good capture.
            pending = archive.start_exchange(exchange, revisits=self.revisits)
            for _ in range(MADE_AGAIN_LIMIT):
                warcinfo_id = writer.ready()
                prepared = await run_in_thread(
                    prepare_exchange, pending, warcinfo_id, writer.gzip_level, writer.directory
                )
                if self._failed or self._closed:
                    prepared.serialized.close()
                    return None
                capture = archive.commit_exchange(prepared)
                if capture is not None:
                    return capture
                # The file was rotated meanwhile: the records name its warcinfo.
                self.crawler.stats.inc_value("archiver/warc/made_again")
            # Files rotate faster than the thread makes the records: made on the reactor.
            return archive.add_exchange(exchange, revisits=self.revisits)
        except Exception as exc:
            if not self._failed:
                self._stop(exc, f"Could not archive {url}")
            return None

    def _note(
        self,
        response: Response,
        request: Request,
        exchange: Exchange,
        capture: Capture,
        *,
        replayed: bool,
    ) -> None:
        """Make ``capture`` known to the rest of the crawl: meta, stats, log."""
        request.meta[CAPTURE_META] = capture
        request.meta[EXCHANGE_META] = exchange
        self._archived[response] = capture
        if capture.profile is not None:
            self.crawler.stats.inc_value(f"archiver/warc/revisits/{capture.profile}")
        elif not replayed:
            self.crawler.stats.inc_value("archiver/warc/responses")
        logger.debug(
            "%(what)s %(url)s (%(status)d)",
            {
                "what": "Replayed" if replayed else "Archived",
                "url": request.url,
                "status": response.status,
            },
        )

    @property
    def replaying(self) -> bool:
        """Whether responses come from an archive (ARCHIVER_REPLAY) rather than the network."""
        return bool(self.replay_root)

    def _replayed_capture(self, archive: Archive, found: Replayed) -> Capture:
        """The capture of a replayed record in this crawl's index: its row, or a new one.

        When the crawl writes into the archive it replays, the record's row is there
        already (record ids are unique). Elsewhere a row is added that points at the
        source WARC file by its absolute path.
        """
        row = found.row
        rows = archive.index.query("SELECT id FROM captures WHERE record_id = ?", (row.record_id,))
        existing = next(iter(rows), None)
        if existing is not None:
            return Capture(
                existing["id"],
                row.record_id,
                row.url,
                row.fetched_at,
                row.warc_file,
                reused=True,
                warc_offset=row.warc_offset,
            )
        located = replace(row, warc_file=str(found.path.resolve()))
        # Archived as a row too, so that a reindex of this archive gives it back.
        capture_id = archive.add_elsewhere(located, datetime.now(UTC))
        return Capture(
            capture_id,
            row.record_id,
            row.url,
            row.fetched_at,
            located.warc_file,
            warc_offset=row.warc_offset,
        )

    def record_failure(self, request: Request, error: BaseException) -> Capture | None:
        """Archive a fetch that ended without a response, and its request if it went out."""
        started = started_at(request)
        reason = describe(error)
        fields = {
            "fetch-error": reason,
            "error-type": f"{type(error).__module__}.{type(error).__qualname__}",
            "method": request.method,
            "attempt": str(request.meta.get("retry_times", 0) + 1),
        }
        url = urldefrag(request.url)[0]
        sent = None
        if reached_server(error):
            sent = UnansweredRequest(
                url=url,
                method=request.method,
                request_headers=redacted(header_pairs(request.headers)),
                request_body=request.body,
                started=started,
            )
        capture = self._guarded(url, lambda a: a.add_failure(url, started, fields, reason, sent))
        if capture is None:
            return None
        self.crawler.stats.inc_value("archiver/warc/failures")
        return capture

    def record_conversion(self, capture: Capture, text: str) -> str | None:
        """Archive the text extracted from ``capture``; None if it could not be written."""
        now = datetime.now(UTC)
        record_id = self._guarded(capture.url, lambda a: a.add_conversion(capture, text, now))
        if record_id is None:
            return None
        self.crawler.stats.inc_value("archiver/warc/conversions")
        return record_id

    def record_link(self, url: str, fields: dict[str, str], *, refers_to: str) -> str | None:
        """Archive a ``metadata`` record about ``url`` that refers to another record."""
        now = datetime.now(UTC)
        return self._guarded(url, lambda a: a.add_metadata(url, now, fields, refers_to=refers_to))

    def record_seed(self, row: SeedRow) -> None:
        """Archive and index what became of an input entry."""
        now = datetime.now(UTC)
        self._guarded(row.url, lambda a: a.add_seed(row, now), "record the outcome of")

    def record_text_outcome(self, capture: Capture, **fields: Any) -> None:
        """Archive and index what text extraction gave for ``capture``.

        A row an earlier crawl made (a replay into the archive it replays) keeps what
        that crawl recorded: the replay's text files are named in its ``seeds`` rows.
        """
        if capture.reused:
            self.crawler.stats.inc_value("archiver/replay/rows_kept")
            return
        now = datetime.now(UTC)
        self._guarded(
            capture.url,
            lambda a: a.set_text_outcome(capture, now, **fields),
            "record the text outcome of",
        )

    def last_good(self, url: str) -> GoodCapture | None:
        """The URL's last good capture in this archive (None before the archive opens)."""
        return None if self.index is None else self.index.last_good(url)

    def last_good_of_input(self, url: str) -> GoodCapture | None:
        """The last good capture an input URL gave: its own, or where it redirected to."""
        if self.index is None:
            return None
        last = self.index.last_good(url)
        if last is None and (final := self.index.final_url(url)) not in (None, url):
            last = self.index.last_good(final)
        return last

    def last_text(self, url: str, *, before: int | None = None) -> TextVersion | None:
        """The URL's current text version in this archive's index."""
        return None if self.index is None else self.index.last_text(url, before=before)

    def done_positions(self, spider: str, input: str) -> set[int] | None:
        """The entries of ``input`` that interrupted crawls saw through (None: all of them)."""
        if self.archive is None:
            return set()
        archive = self.archive
        return archive.index.resumable_done(spider, input, before=archive.crawl_id)

    def _guarded(
        self, url: str, write: Callable[[Archive], _T], what: str = "archive"
    ) -> _T | None:
        """Run a write; on failure stop the crawl. None when nothing was written."""
        if self.archive is None or self._failed:
            return None
        try:
            return write(self.archive)
        except Exception as exc:
            self._stop(exc, f"Could not {what} {url}")
            return None

    def _commit(self) -> None:
        if self.index is not None and not self._failed:
            try:
                self.index.commit()
            except Exception as exc:
                self._stop(exc, "Could not commit the index")

    def _stop(self, exc: Exception, what: str) -> None:
        """Stop the crawl: nothing may be reported without its record."""
        self._failed = True
        self.crawler.stats.inc_value("archiver/write_errors")
        logger.error(
            "%(what)s: %(error)s; stopping the crawl", {"what": what, "error": exc}, exc_info=exc
        )
        assert self.crawler.engine is not None
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=WRITE_ERROR_REASON))
