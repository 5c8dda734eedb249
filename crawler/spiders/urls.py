"""The ``urls`` spider: fetch every URL of a list, of standard input or of a corpus folder.

Run it with ``scrapy crawl urls -a urls=FILE`` (a folder of corpus documents,
or ``-`` for standard input, work too) or ``archiver crawl FILE``. With
``ARCHIVER_FRONTIER_FEED`` (``archiver crawl FILE --redis URL``) the entries it
can fetch go into the shared Redis frontier instead, for ``archiver worker`` to
crawl (:mod:`crawler.distributed.feed`). Every input
entry ends as an item: a :class:`~crawler.items.Page` for a fetched page, a
:class:`~crawler.items.SeedOutcome` saying why there is none otherwise; the
:class:`~crawler.extensions.ledger.InputLedger` sees to the entries that a
component drops on the way.

Credentials in an input URL are sent as the ``Authorization`` header of that
entry's request only (Scrapy's redirect middleware drops it on a redirect to
another scheme, host or port); the request's URL is the URL without them.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag

from scrapy import Request, Spider
from scrapy.exceptions import CloseSpider
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.spidermiddlewares.urllength import UrlLengthMiddleware
from scrapy.utils.conf import build_component_list
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import load_object
from twisted.internet.threads import deferToThread
from w3lib.http import basic_auth_header

from crawler.due import due_setting, not_due_reason
from crawler.extensions.archive import ArchiveExtension
from crawler.extensions.exchange import header_pairs
from crawler.extensions.ledger import InputLedger
from crawler.failures import describe, outcome_of
from crawler.inputs import (
    STDIN,
    BatchReader,
    InputError,
    Rejected,
    Seed,
    check_input,
    read_input,
)
from crawler.items import ArchivedCopy, Page, SeedOutcome
from crawler.meta import (
    CAPTURE_META,
    COPY_META,
    EXCHANGE_META,
    FAILURE_META,
    LEAVE_CODED_META,
    SEED_META,
)
from crawler.outcomes import InputOutcome
from crawler.wayback import cdx_url, closest, is_dead, parse_cdx, replay_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from crawler.archive import Capture
    from crawler.distributed.feed import FrontierFeed
    from crawler.inputs import Entry

logger = logging.getLogger(__name__)

#: How long the spider waits for input before letting the engine do other work, in seconds.
INPUT_POLL = 0.5
#: The close reason of a feed into a frontier that holds another input's run.
FRONTIER_BUSY = "archiver_frontier_busy"
#: The stat of the input entries that ``--resume`` skips: done by the crawls before.
RESUME_SKIPPED_STAT = "archiver/input/resume_skipped"
USAGE = (
    "no input: give a URL list, a corpus folder or - for standard input "
    "(archiver crawl FILE, or scrapy crawl urls -a urls=FILE)"
)


class UrlsSpider(Spider):
    name = "urls"
    #: From the settings, read once in from_crawler().
    resume = False
    fallback = False
    wayback = ""
    due: timedelta | None = None  #: ARCHIVER_DUE: only URLs last captured longer ago
    due_spec = ""
    #: Longest request URL that Scrapy's UrlLengthMiddleware lets through; 0: no limit.
    url_limit = 0
    #: The Redis whose frontier the entries are fed into (ARCHIVER_FRONTIER_FEED), or "".
    feed_url = ""
    #: Meta of the requests for pages: ``parse`` reads no body (text is made from the
    #: archived exchange), so a cheap gzip body is left coded for it, unless a subclass
    #: overrides ``parse`` or page requisites are read from every page (from_crawler).
    page_meta: Mapping[str, bool] = {}

    def __init__(self, urls: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not urls:
            raise InputError(USAGE)
        self.input = urls  #: as given: the log and the index name entries by it
        # The input's identity in the index, so that --resume finds its earlier crawls.
        self.input_path = urls if urls == STDIN else os.path.abspath(urls)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.resume = settings.getbool("ARCHIVER_RESUME")
        spider.fallback = settings.getbool("ARCHIVER_ARCHIVED_FALLBACK")
        spider.wayback = settings.get("ARCHIVER_WAYBACK_URL")
        spider.due_spec = str(settings.get("ARCHIVER_DUE") or "").strip()
        spider.due = due_setting(spider.due_spec)
        spider.url_limit = url_length_limit(settings)
        if settings.getbool("ARCHIVER_FRONTIER_FEED"):
            spider.feed_url = settings.get("ARCHIVER_REDIS_URL") or ""
        if cls.parse is UrlsSpider.parse and not settings.getbool("ARCHIVER_REQUISITES"):
            spider.page_meta = {LEAVE_CODED_META: True}
        return spider

    @classmethod
    def check_arguments(cls, arguments: Mapping[str, str], settings: BaseSettings) -> None:
        """Raise InputError, before the crawl starts, if the input cannot be read."""
        path = arguments.get("urls")
        if not path:
            raise InputError(USAGE)
        if path == STDIN and settings.getbool("ARCHIVER_RESUME"):
            raise InputError("cannot resume a crawl of standard input: give the list as a file")
        if path == STDIN and settings.getbool("ARCHIVER_FRONTIER_FEED"):
            # Its run could not be told from the next stdin's: their positions would collide.
            raise InputError("--redis cannot feed standard input: give the list as a file")
        check_input(path)
        if settings.getbool("ARCHIVER_FRONTIER_FEED"):
            # Only a feed needs redis-py: a crawl without Redis does not import it.
            from crawler.distributed.preflight import feed_problem

            input_path = os.path.abspath(path)
            if (problem := feed_problem(settings, input_path)) is not None:
                raise InputError(problem)

    # -- input ---------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        ledger = self.crawler.get_extension(InputLedger)
        done = self._done_before() if self.resume else set()
        if done is None:
            return
        feed = await self._open_feed()
        # Read in a thread of its own: standard input may block, files may be slow.
        reader = BatchReader(read_input(self.input))
        while (
            batch := await maybe_deferred_to_future(deferToThread(reader.next_batch, INPUT_POLL))
        ) is not None:
            for entry in batch:
                if feed is not None and isinstance(entry, Seed):
                    await feed.add(entry)
                elif entry.position not in done:
                    if ledger is not None:
                        # At most ARCHIVER_START_AHEAD entries in flight: memory stays flat.
                        await ledger.room()
                    item = self._start_item(entry)
                    if ledger is not None:
                        # Before Scrapy sees it: a spider middleware may drop it.
                        ledger.expect(
                            item.seed if isinstance(item, SeedOutcome) else item.meta[SEED_META]
                        )
                    yield item
        if feed is not None:
            await feed.finish()
            await feed.close()
        if ledger is not None:
            ledger.input_read()

    async def _open_feed(self) -> FrontierFeed | None:
        """The feed of the frontier under ARCHIVER_FRONTIER_FEED; CloseSpider if it is busy."""
        if not self.feed_url:
            return None
        from crawler.distributed.feed import FrontierFeed
        from crawler.distributed.frontier import FrontierBusyError

        assert self.crawler.stats is not None
        feed = FrontierFeed(
            self.feed_url,
            self.input_path,
            self.input,
            self.crawler.stats,
            max_queued=self.settings.getint("ARCHIVER_FRONTIER_MAX_QUEUED"),
        )
        try:
            await feed.begin()
        except (FrontierBusyError, InputError) as exc:
            logger.error("Cannot feed %(input)s: %(error)s", {"input": self.input, "error": exc})
            await feed.close()
            raise CloseSpider(FRONTIER_BUSY) from None
        return feed

    def _done_before(self) -> set[int] | None:
        """Entries that interrupted crawls of this input saw through; None for all of them."""
        archive = self.crawler.get_extension(ArchiveExtension)
        done = archive.done_positions(self.name, self.input_path) if archive else set()
        if done is None:
            logger.info(
                "Nothing to resume: the last crawl of %(input)s reached its end",
                {"input": self.input},
            )
        else:
            logger.info(
                "Resuming %(input)s: %(done)d entries already done",
                {"input": self.input, "done": len(done)},
            )
            # What the progress total leaves out (crawler.extensions.progress).
            assert self.crawler.stats is not None
            self.crawler.stats.set_value(RESUME_SKIPPED_STAT, len(done))
        return done

    def _start_item(self, entry: Entry) -> Request | SeedOutcome:
        stats = self.crawler.stats
        assert stats is not None
        if isinstance(entry, Rejected):
            stats.inc_value(f"archiver/input/{entry.kind}")
            # Unusable lines are the user's to fix; a duplicate is fetched once anyway.
            level = logging.DEBUG if entry.kind == InputOutcome.DUPLICATE else logging.WARNING
            _log_skipped(level, entry, entry.text, entry.reason)
            return SeedOutcome(entry, entry.kind, entry.reason)
        entry, credentials = entry.take_credentials()
        if self.due is not None and (reason := self._not_due(entry)) is not None:
            stats.inc_value("archiver/input/not_due")
            logger.debug("Not due: %(url)s, %(reason)s", {"url": entry.url, "reason": reason})
            return SeedOutcome(entry, InputOutcome.NOT_DUE, reason)
        problem: str | None
        try:
            request = Request(
                entry.url,
                callback=self.parse,
                errback=self.failed,
                headers=_authorization(credentials),
                meta={SEED_META: entry, **self.page_meta},
                dont_filter=True,
            )
        except ValueError as exc:
            problem = str(exc)
        else:
            # Checked here, not left to the middleware: it would drop the request unrecorded.
            if (problem := self._too_long(request.url)) is None:
                stats.inc_value("archiver/input/seeds")
                return request
        stats.inc_value("archiver/input/invalid")
        _log_skipped(logging.WARNING, entry, entry.url, problem)
        return SeedOutcome(entry, InputOutcome.INVALID, problem)

    def _too_long(self, url: str) -> str | None:
        """Why Scrapy's UrlLengthMiddleware would drop a request for ``url``; None if not."""
        if not self.url_limit or len(url) <= self.url_limit:
            return None
        return f"URL of {len(url)} characters, longer than URLLENGTH_LIMIT ({self.url_limit})"

    def _not_due(self, entry: Seed) -> str | None:
        """Why ``entry`` is not fetched under ``--due``; None when it is due."""
        assert self.due is not None
        archive = self.crawler.get_extension(ArchiveExtension)
        last = archive.last_good_of_input(entry.url) if archive else None
        if last is None:
            return None
        return not_due_reason(last.fetched_at, self.due, self.due_spec, datetime.now(UTC))

    # -- outcomes ------------------------------------------------------------

    def parse(self, response: Response) -> Iterator[Page]:
        yield Page(
            seed=response.meta[SEED_META],
            capture=response.meta[CAPTURE_META],
            url=response.url,
            status=response.status,
            headers=header_pairs(response.headers),
            body=response.body,
            exchange=response.meta.get(EXCHANGE_META),
            redirects=list(response.meta.get("redirect_urls", [])),
            archived_copy=response.meta.get(COPY_META),
        )

    def failed(self, failure: Failure) -> Iterator[SeedOutcome | Request]:
        request: Request = failure.request  # type: ignore[attr-defined]
        seed: Seed = request.meta[SEED_META]
        error = failure.value
        assert error is not None
        capture = _own_capture(request)
        reason = describe(error)
        copy: ArchivedCopy | None = request.meta.get(COPY_META)
        if copy is not None:
            reason = f"{copy.failure}; its archived copy failed too: {reason}"
        elif self.fallback and is_dead(error):
            yield self._find_copy(seed, reason, capture)
            return
        logger.debug("Failed %(url)s: %(reason)s", {"url": seed.url, "reason": reason})
        status = error.response.status if isinstance(error, HttpError) else None
        yield SeedOutcome(seed, outcome_of(error), reason, capture, request.url, status)

    # -- archived copies of dead URLs -------------------------------------

    def _find_copy(self, seed: Seed, reason: str, capture: Capture | None) -> Request | SeedOutcome:
        lookup = cdx_url(self.wayback, seed.url, seed.published or datetime.now(UTC))
        if (problem := self._too_long(lookup)) is not None:
            problem = f"{reason}; no archived copy looked for: its lookup {problem}"
            return SeedOutcome(seed, InputOutcome.FAILED, problem, capture)
        logger.debug(
            "%(url)s is dead (%(reason)s): looking for an archived copy",
            {"url": seed.url, "reason": reason},
        )
        return Request(
            lookup,
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
            yield SeedOutcome(
                seed, InputOutcome.FAILED, f"{reason}; unreadable archive index: {exc}", capture
            )
            return
        if found is None:
            yield SeedOutcome(seed, InputOutcome.FAILED, f"{reason}; no archived copy", capture)
            return
        url = replay_url(self.wayback, found)
        yield Request(
            url,
            callback=self.parse,
            errback=self.failed,
            meta={
                SEED_META: seed,
                COPY_META: ArchivedCopy(found.timestamp, url, reason, capture),
                **self.page_meta,
            },
            dont_filter=True,
        )

    def copy_lookup_failed(self, failure: Failure) -> Iterator[SeedOutcome]:
        request: Request = failure.request  # type: ignore[attr-defined]
        reason, capture = request.meta[FAILURE_META]
        assert failure.value is not None
        problem = f"{reason}; archived copy lookup failed: {describe(failure.value)}"
        yield SeedOutcome(request.meta[SEED_META], InputOutcome.FAILED, problem, capture)


def url_length_limit(settings: BaseSettings) -> int:
    """URLLENGTH_LIMIT while Scrapy's UrlLengthMiddleware is on (it drops longer URLs), else 0."""
    limit = settings.getint("URLLENGTH_LIMIT")
    if not limit:
        return 0
    for component in build_component_list(settings.getwithbase("SPIDER_MIDDLEWARES")):
        cls = load_object(component) if isinstance(component, str) else component
        if isinstance(cls, type) and issubclass(cls, UrlLengthMiddleware):
            return limit
    return 0


def _authorization(credentials: tuple[str, str] | None) -> dict[str, bytes]:
    """The ``Authorization`` header for the credentials of an input URL, if it had any."""
    if credentials is None:
        return {}
    return {"Authorization": basic_auth_header(*credentials, encoding="utf-8")}


def _own_capture(request: Request) -> Capture | None:
    """The capture of this very request's response, if it got one.

    Redirects copy the meta of the request they replace, so a request refused
    before its download (robots.txt) still carries the capture of the hop before.
    """
    capture: Capture | None = request.meta.get(CAPTURE_META)
    if capture is not None and capture.url != urldefrag(request.url)[0]:
        return None
    return capture


def _log_skipped(level: int, entry: Entry, text: str, reason: str) -> None:
    logger.log(
        level,
        "Skipped %(source)s:%(line)d %(url)r: %(reason)s",
        {"source": entry.source, "line": entry.line, "url": text, "reason": reason},
    )
