"""The extraction pool: workers forked warm from one server, pages queued while it warms up."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f, maybe_deferred_to_future

from crawler.extract.pool import ExtractionPool
from crawler.outcomes import TextOutcome
from tests.extractors import reports_its_environment, reports_its_process

PAGE = b"<html><body><p>A page.</p></body></html>"
PAGE_ARGS: dict[str, Any] = {
    "status": 200,
    "headers": [(b"Content-Type", b"text/html; charset=utf-8")],
    "original_url": "http://example.com/",
    "fetched": None,
}
REPO = Path(__file__).resolve().parents[1]
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
        "import gc, crawler.extract.warm as warm, trafilatura.external as external; "
        "from dateparser.languages.dictionary import Dictionary; "
        "print(warm.WARMED, max(map(len, Dictionary._split_regex_cache.values())), "
        "external.JT_STOPLIST is not None, gc.get_freeze_count())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    warmed, languages, stop_words, frozen = result.stdout.rsplit(maxsplit=3)
    assert warmed == "['imports', 'dateparser', 'justext']"
    assert int(languages) >= 200  # dateparser's tables, every language
    assert stop_words == "True"
    # Out of the collector's sight: the tables alone are tens of thousands of objects.
    assert int(frozen) > 50_000


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
    converted = pool.run(PAGE, url="http://example.com/", **PAGE_ARGS)  # does not raise
    with pytest.raises(RuntimeError, match="closed"):
        await maybe_deferred_to_future(converted)


@needs_forkserver
def test_the_server_and_its_workers_leave_ctrl_c_to_the_crawl() -> None:
    pool = ExtractionPool(reports_its_process, workers=1, timeout=60)
    try:
        worker, server = _worker(pool, "http://example.com/")
        blocked = {pid: _blocked_signals(pid) for pid in (worker, server)}
    finally:
        pool.close()
    # Blocked while the server warms up, and so in every worker: the crawl stops them.
    assert all(signal.SIGINT in signals for signals in blocked.values()), blocked


def test_workers_get_the_callers_environment_back() -> None:
    # The server is started with PYTHONPATH and PYTHONSAFEPATH of its own: a worker
    # starting a Python subprocess must not pass them on.
    pool = ExtractionPool(reports_its_environment, workers=1, timeout=60)
    try:
        conversion = pool.outcome(pool.submit(PAGE, url="http://example.com/", **PAGE_ARGS))
    finally:
        pool.close()
    assert conversion.document is not None
    expected = " | ".join(os.environ.get(name, "-") for name in ("PYTHONPATH", "PYTHONSAFEPATH"))
    assert conversion.document.title == expected


def _blocked_signals(pid: int) -> set[int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    (mask,) = (int(line.split()[1], 16) for line in status if line.startswith("SigBlk:"))
    return {number for number in range(1, 65) if mask >> (number - 1) & 1}


#: A script that converts one page with a pool of its own; prints the outcome and the title.
POOL_SCRIPT = """
import pathlib, sys
sys.path.insert(0, {repo!r})
from crawler.extract.pool import ExtractionPool
from tests.extractors import reports_its_environment, reports_its_process

def main():
    pool = ExtractionPool(reports_its_process, workers=1, timeout=60)
    if {convert!r}:
        page = b"<html><body><p>A page.</p></body></html>"
        headers = [(b"Content-Type", b"text/html")]
        conversion = pool.outcome(pool.submit(
            page, status=200, headers=headers, url="http://example.com/",
            original_url="http://example.com/", fetched=None,
        ))
        print(conversion.outcome, conversion.document.title if conversion.document else None)
    pool.close()
    tasks = pathlib.Path("/proc/self/task").iterdir()
    children = [child for task in tasks for child in (task / "children").read_text().split()]
    print("children", len(children))

if __name__ == "__main__":  # workers import this module again
    main()
"""


def _pool_script(
    tmp_path: Path, *, convert: bool = True, env: dict[str, str] | None = None
) -> list[str]:
    """Run :data:`POOL_SCRIPT` from a script folder of its own, in ``tmp_path``; its lines."""
    script = tmp_path / "script" / "convert.py"
    script.parent.mkdir()
    script.write_text(POOL_SCRIPT.format(repo=str(REPO), convert=convert), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_workers_import_the_crawls_code_not_a_module_in_its_working_folder(
    tmp_path: Path,
) -> None:
    # Run from a folder that holds a crawler.py, as a project of the user's might.
    (tmp_path / "crawler.py").write_text("raise SystemExit('the wrong crawler')\n")
    outcome, _ = _pool_script(tmp_path)
    assert outcome.startswith("written worker ")


def test_workers_are_spawned_when_their_server_cannot_start(tmp_path: Path) -> None:
    # The server's socket would be under TMPDIR: too long a path for a Unix socket.
    deep = tmp_path / ("x" * 100)
    deep.mkdir()
    outcome, _ = _pool_script(tmp_path, env={"TMPDIR": str(deep)})
    assert outcome.startswith("written worker ")
    # Spawned: the worker warmed up on its own.
    match = WORKER_RE.search(outcome)
    assert match is not None and match[1] == match[2]


def test_a_pool_given_no_page_starts_no_process(tmp_path: Path) -> None:
    assert _pool_script(tmp_path, convert=False) == ["children 0"]
