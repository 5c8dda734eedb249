"""The ``urls`` spider: fetch every URL of a list, of standard input or of a corpus folder.

Run it with ``scrapy crawl urls -a urls=FILE`` (a folder of corpus documents,
or ``-`` for standard input, work too) or ``archiver crawl FILE``.
"""

from __future__ import annotations

import logging
from itertools import islice
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread

from crawler.extensions.archive import CAPTURE_META, header_pairs
from crawler.failures import describe, outcome_of
from crawler.inputs import InputError, Rejected, Seed, check_input, read_input
from crawler.items import Page, SeedOutcome

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping

    from scrapy.http import Response
    from twisted.python.failure import Failure

    from crawler.inputs import Entry

logger = logging.getLogger(__name__)

SEED_META = "archiver_seed"
#: Input entries read per trip to the reading thread.
INPUT_BATCH = 1000


class UrlsSpider(Spider):
    name = "urls"

    def __init__(self, urls: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not urls:
            raise InputError(USAGE)
        self.input_path = urls

    @classmethod
    def check_arguments(cls, arguments: Mapping[str, str]) -> None:
        """Raise InputError, before the crawl starts, if the input cannot be read."""
        path = arguments.get("urls")
        if not path:
            raise InputError(USAGE)
        check_input(path)

    async def start(self) -> AsyncIterator[Any]:
        entries = read_input(self.input_path)
        # Reading happens in a thread: standard input may block, files may be slow.
        while batch := await maybe_deferred_to_future(deferToThread(_take, entries)):
            for entry in batch:
                yield self._start_item(entry)

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
        )

    def failed(self, failure: Failure) -> Iterator[SeedOutcome]:
        request: Request = failure.request  # type: ignore[attr-defined]
        seed: Seed = request.meta[SEED_META]
        error = failure.value
        assert error is not None
        capture = None
        if isinstance(error, HttpError):
            capture = error.response.meta.get(CAPTURE_META)
        reason = describe(error)
        logger.info("Failed %(url)s: %(reason)s", {"url": seed.url, "reason": reason})
        yield SeedOutcome(seed, outcome_of(error), reason, capture, url=request.url)


USAGE = "the urls spider reads -a urls=FILE: a URL list, a corpus folder, or - for standard input"


def _take(entries: Iterator[Entry]) -> list[Entry]:
    return list(islice(entries, INPUT_BATCH))
