"""The extraction pool: workers forked warm from one server, pages queued while it warms up."""

from __future__ import annotations

import multiprocessing
import re
import subprocess
import sys
import threading
from typing import Any

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f, maybe_deferred_to_future

from crawler.extract.pool import ExtractionPool
from crawler.outcomes import TextOutcome
from tests.extractors import reports_its_process

PAGE = b"<html><body><p>A page.</p></body></html>"
PAGE_ARGS: dict[str, Any] = {
    "status": 200,
    "headers": [(b"Content-Type", b"text/html; charset=utf-8")],
    "original_url": "http://example.com/",
    "fetched": None,
}
WORKER_RE = re.compile(r"worker (\d+) warmed by (\d+)")

needs_forkserver = pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(),
    reason="no forkserver start method here: workers are spawned and warm up one by one",
)


def _worker(pool: ExtractionPool, url: str) -> tuple[int, int]:
    conversion = pool.outcome(pool.submit(PAGE, url=url, **PAGE_ARGS))
    assert conversion.document is not None and conversion.document.title is not None
    match = WORKER_RE.fullmatch(conversion.document.title)
    assert match is not None
    return int(match[1]), int(match[2])


def test_the_warm_up_fills_the_caches_workers_would_fill_one_by_one() -> None:
    # In a fresh process: the test process may have them already.
    code = (
        "import crawler.extract.warm as warm, trafilatura.external as external; "
        "from dateparser.languages.dictionary import Dictionary; "
        "print(warm.WARMED, max(map(len, Dictionary._split_regex_cache.values())), "
        "external.JT_STOPLIST is not None)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    warmed, languages, stop_words = result.stdout.rsplit(maxsplit=2)
    assert warmed == "['imports', 'dateparser', 'justext']"
    assert int(languages) >= 200  # dateparser's tables, every language
    assert stop_words == "True"


@needs_forkserver
def test_workers_are_forked_from_one_warm_server_and_so_are_their_replacements() -> None:
    pool = ExtractionPool(reports_its_process, workers=1, timeout=60)
    try:
        first = _worker(pool, "http://example.com/first")
        crashed = pool.outcome(pool.submit(PAGE, url="http://example.com/crash", **PAGE_ARGS))
        replacement = _worker(pool, "http://example.com/after")
    finally:
        pool.close()
    assert crashed.outcome == TextOutcome.CRASHED
    assert replacement[0] != first[0]
    # One warm-up, in neither worker: both were forked from the server that had it.
    assert replacement[1] == first[1]
    assert first[1] not in (first[0], replacement[0])


@deferred_f_from_coro_f
async def test_pages_given_before_the_workers_are_there_wait_and_are_converted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    start = ExtractionPool._start

    def held_start(pool: ExtractionPool) -> None:
        release.wait(60)
        start(pool)

    monkeypatch.setattr(ExtractionPool, "_start", held_start)
    pool = ExtractionPool(reports_its_process, workers=1, timeout=60)
    try:
        waiting = [pool.run(PAGE, url=f"http://example.com/{n}", **PAGE_ARGS) for n in range(3)]
        assert not any(deferred.called for deferred in waiting)
        release.set()
        conversions = [await maybe_deferred_to_future(deferred) for deferred in waiting]
    finally:
        release.set()
        pool.close()
    assert [c.outcome for c in conversions] == [TextOutcome.WRITTEN] * 3
    assert all(c.document and WORKER_RE.fullmatch(c.document.title or "") for c in conversions)


@deferred_f_from_coro_f
async def test_a_page_given_to_a_closed_pool_fails_and_does_not_hang() -> None:
    pool = ExtractionPool(reports_its_process, workers=1, timeout=60)
    pool.close()
    with pytest.raises(RuntimeError):
        await maybe_deferred_to_future(pool.run(PAGE, url="http://example.com/", **PAGE_ARGS))
