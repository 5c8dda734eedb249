"""The ``urls`` spider: fetch every URL of a list, of standard input or of a corpus folder.

Run it with ``scrapy crawl urls -a urls=FILE`` (a folder of corpus documents,
or ``-`` for standard input, work too) or ``archiver crawl FILE``.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from itertools import islice, takewhile
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread

from crawler.extensions.archive import CAPTURE_META, ArchiveExtension, header_pairs
from crawler.failures import describe, outcome_of
from crawler.inputs import STDIN, InputError, Rejected, Seed, check_input, read_input
from crawler.items import ArchivedCopy, Page, SeedOutcome
from crawler.wayback import cdx_url, closest, is_dead, parse_cdx, replay_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping

    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from crawler.archive import Capture
    from crawler.inputs import Entry

logger = logging.getLogger(__name__)

SEED_META = "archiver_seed"
COPY_META = "archiver_archived_copy"
FAILURE_META = "archiver_original_failure"
#: Input entries read per trip to the reading thread.
INPUT_BATCH = 1000


class UrlsSpider(Spider):
    name = "urls"

    def __init__(self, urls: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not urls:
            raise InputError(USAGE)
        self.input = urls  #: as given: the log and the index name entries by it
        # The input's identity in the index, so that --resume finds its earlier crawls.
        self.input_path = urls if urls == STDIN else os.path.abspath(urls)

    @classmethod
    def check_arguments(cls, arguments: Mapping[str, str], settings: BaseSettings) -> None:
        """Raise InputError, before the crawl starts, if the input cannot be read."""
        path = arguments.get("urls")
        if not path:
            raise InputError(USAGE)
        if path == STDIN and settings.getbool("ARCHIVER_RESUME"):
            raise InputError("cannot resume a crawl of standard input: give the list as a file")
        check_input(path)

    async def start(self) -> AsyncIterator[Any]:
        done = self._done_before() if self.settings.getbool("ARCHIVER_RESUME") else set()
        if done is None:
            return
        entries = read_input(self.input)
        # Reading happens in a thread: standard input may block, files may be slow.
        while batch := await maybe_deferred_to_future(deferToThread(_take, entries)):
            for entry in batch:
                if entry.position not in done:
                    yield self._start_item(entry)

    def _done_before(self) -> set[int] | None:
        """Entries that the interrupted crawls of this input saw through; None for all of them.

        The crawls that count are those since the last one of the same input that
        reached its end; if the latest crawl reached its end, there is nothing to resume.
        """
        archive = self.crawler.get_extension(ArchiveExtension)
        if archive is None or archive.archive is None:
            return set()
        index, crawl_id = archive.archive.index, archive.archive.crawl_id
        earlier = index.earlier_crawls(self.name, self.input_path, crawl_id)
        if earlier and earlier[0][1] == "finished":
            logger.info(
                "Nothing to resume: crawl %d of %s reached its end", earlier[0][0], self.input_path
            )
            return None
        unfinished = list(takewhile(lambda crawl: crawl[1] != "finished", earlier))
        ids = [crawl for crawl, _ in unfinished]
        done = index.seed_positions(ids) if ids else set()
        logger.info(
            "Resuming %(input)s: %(done)d entries done in crawls %(crawls)s",
            {"input": self.input_path, "done": len(done), "crawls": ids or "none"},
        )
        return done

    def _start_item(self, entry: Entry) -> Request | SeedOutcome:
        stats = self.crawler.stats
        assert stats is not None
        if isinstance(entry, Rejected):
            stats.inc_value(f"archiver/input/{entry.kind}")
            log = logger.info if entry.kind == "duplicate" else logger.warning
            log(
                "Skipped %(source)s:%(line)d %(url)r: %(reason)s",
                {
                    "source": entry.source,
                    "line": entry.line,
                    "url": entry.text,
                    "reason": entry.reason,
                },
            )
            return SeedOutcome(entry, entry.kind, entry.reason)
        try:
            request = Request(
                entry.url,
                callback=self.parse,
                errback=self.failed,
                meta={SEED_META: entry},
                dont_filter=True,
            )
        except ValueError as exc:
            stats.inc_value("archiver/input/invalid")
            logger.warning(
                "Skipped %(source)s:%(line)d %(url)r: %(reason)s",
                {"source": entry.source, "line": entry.line, "url": entry.url, "reason": exc},
            )
            return SeedOutcome(entry, "invalid", str(exc))
        stats.inc_value("archiver/input/seeds")
        return request

    def parse(self, response: Response) -> Iterator[Page]:
        yield Page(
            seed=response.meta[SEED_META],
            capture=response.meta[CAPTURE_META],
            url=response.url,
            status=response.status,
            headers=header_pairs(response.headers),
            body=response.body,
            redirects=list(response.meta.get("redirect_urls", [])),
            archived_copy=response.meta.get(COPY_META),
        )

    def failed(self, failure: Failure) -> Iterator[SeedOutcome | Request]:
        request: Request = failure.request  # type: ignore[attr-defined]
        seed: Seed = request.meta[SEED_META]
        error = failure.value
        assert error is not None
        capture = None
        if isinstance(error, HttpError):
            capture = error.response.meta.get(CAPTURE_META)
        reason = describe(error)
        copy: ArchivedCopy | None = request.meta.get(COPY_META)
        if copy is not None:
            reason = f"{copy.failure}; its archived copy failed too: {reason}"
        elif self.settings.getbool("ARCHIVER_ARCHIVED_FALLBACK") and is_dead(error):
            yield self._find_copy(seed, reason, capture)
            return
        logger.info("Failed %(url)s: %(reason)s", {"url": seed.url, "reason": reason})
        yield SeedOutcome(seed, outcome_of(error), reason, capture, url=request.url)

    # -- archived copies of dead URLs -------------------------------------

    def _find_copy(self, seed: Seed, reason: str, capture: Capture | None) -> Request:
        base = self.settings.get("ARCHIVER_WAYBACK_URL")
        near = seed.published or datetime.now(UTC)
        logger.info(
            "%(url)s is dead (%(reason)s): looking for an archived copy",
            {"url": seed.url, "reason": reason},
        )
        return Request(
            cdx_url(base, seed.url, near),
            callback=self.copy_found,
            errback=self.copy_lookup_failed,
            meta={SEED_META: seed, FAILURE_META: (reason, capture)},
            dont_filter=True,
        )

    def copy_found(self, response: Response) -> Iterator[SeedOutcome | Request]:
        seed: Seed = response.meta[SEED_META]
        reason, capture = response.meta[FAILURE_META]
        try:
            found = closest(parse_cdx(response.body), seed.published or datetime.now(UTC))
        except ValueError as exc:
            yield SeedOutcome(seed, "failed", f"{reason}; unreadable archive index: {exc}", capture)
            return
        if found is None:
            yield SeedOutcome(seed, "failed", f"{reason}; no archived copy", capture)
            return
        url = replay_url(self.settings.get("ARCHIVER_WAYBACK_URL"), found)
        copy = ArchivedCopy(found.timestamp, url, reason, capture)
        yield Request(
            url,
            callback=self.parse,
            errback=self.failed,
            meta={SEED_META: seed, COPY_META: copy},
            dont_filter=True,
        )

    def copy_lookup_failed(self, failure: Failure) -> Iterator[SeedOutcome]:
        request: Request = failure.request  # type: ignore[attr-defined]
        reason, capture = request.meta[FAILURE_META]
        assert failure.value is not None
        problem = f"{reason}; archived copy lookup failed: {describe(failure.value)}"
        yield SeedOutcome(request.meta[SEED_META], "failed", problem, capture)


USAGE = (
    "no input: give a URL list, a corpus folder or - for standard input "
    "(archiver crawl FILE, or scrapy crawl urls -a urls=FILE)"
)


def _take(entries: Iterator[Entry]) -> list[Entry]:
    return list(islice(entries, INPUT_BATCH))
