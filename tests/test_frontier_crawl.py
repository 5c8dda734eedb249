"""Distributed crawls: one list fed into Redis, crawled by three workers, one of them killed.

The workers run as ``archiver worker`` processes against a site of three hosts
(127.0.0.1, .2 and .3); some pages are held back until the test lets them go,
so that a worker can be killed with entries in flight.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
import redis as redis_py
from scrapy.utils.defer import deferred_f_from_coro_f
from scrapy.utils.test import get_crawler

from crawler.distributed.frontier import PREFIX, RunInfo, encode_entry
from crawler.distributed.preflight import read_run
from crawler.exitcodes import crawl_exit_code
from crawler.inputs import Seed
from crawler.spiders.frontier import FrontierSpider
from tests.conftest import FAST, archiver, project_settings_dict, run_crawl, write_urls
from tests.redis_server import flushed, redis_server
from tests.server import LocalSite, response

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.server import Handler

HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
#: Pages held back until the test lets them go: every fourth one.
HELD_EVERY = 4
PAGES = 12
#: The longest any wait of this module lasts before it fails, in seconds.
WAIT_LIMIT = 90.0
WORKER_OPTIONS = [
    *FAST,
    # The frontier is tested here, not the politeness between workers: held pages must not
    # take every slot of their host.
    "-s",
    "CONCURRENT_REQUESTS_PER_DOMAIN=8",
    "-s",
    # Two each: a worker holding a held-back page goes on with another.
    "ARCHIVER_FRONTIER_PREFETCH=2",
    "-s",
    "ARCHIVER_EXTRACT_WORKERS=1",
]


class HostSite(LocalSite):
    """The test site, on a loopback address of its own."""

    def __init__(self, host: str) -> None:
        self.bind_host = host
        super().__init__()

    def server_bind(self) -> None:
        self.server_address = (self.bind_host, 0)
        super().server_bind()


def article(n: int) -> bytes:
    words = " ".join(f"word{n}x{i}" for i in range(40))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Article {n}</title></head>"
        f"<body><article><h1>Article {n}</h1><p>Article number {n} says this: {words}.</p>"
        "</article></body></html>"
    ).encode()


def page_route(n: int, gate: threading.Event | None) -> Callable[[Handler], bytes]:
    def route(handler: Handler) -> bytes:
        if gate is not None:
            gate.wait(WAIT_LIMIT)
        return response("200 OK", [("Content-Type", "text/html; charset=utf-8")], article(n))

    return route


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from redis_server(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def urls(gate: threading.Event) -> Iterator[list[str]]:
    """PAGES page URLs, spread over three hosts; every HELD_EVERY-th waits for ``gate``."""
    sites = [HostSite(host).start() for host in HOSTS]
    found = []
    for n in range(PAGES):
        held = gate if n % HELD_EVERY == HELD_EVERY - 1 else None
        found.append(sites[n % len(sites)].add(f"/article/{n}", page_route(n, held)))
    yield found
    gate.set()
    for site in sites:
        site.stop()


def env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if k not in ("ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE")
    }


def start_worker(tmp_path: Path, name: str, redis: str) -> subprocess.Popen[bytes]:
    with (tmp_path / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crawler.cli",
                "worker",
                "--redis",
                redis,
                "-o",
                name,
                *WORKER_OPTIONS,
            ],
            cwd=tmp_path,
            env=env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def finished(process: subprocess.Popen[bytes], tmp_path: Path, name: str) -> int:
    try:
        code = process.wait(timeout=WAIT_LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"worker {name} did not stop:\n{(tmp_path / f'{name}.log').read_text()}")
    return code


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def rows(folder: Path, sql: str) -> list[tuple[object, ...]]:
    path = folder / "index.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return list(db.execute(sql))
    except sqlite3.OperationalError:
        return []  # not made yet
    finally:
        db.close()


def owned(redis: str) -> dict[int, str]:
    client = redis_py.Redis.from_url(redis)
    try:
        found = client.hgetall(f"{PREFIX}:owners")
    finally:
        client.close()
    return {int(k): v.decode() for k, v in found.items()}  # type: ignore[union-attr]


SEED_COLUMNS = "position, url, source, line, document, outcome, reason, text_path"


def corpus(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((folder / "text").glob("*.txt"))}


@deferred_f_from_coro_f
async def test_three_workers_crawl_one_list_once_even_when_one_is_killed(
    tmp_path: Path, urls: list[str], gate: threading.Event, redis_url: str
) -> None:
    # The workers are processes of their own; the feed and the single-machine crawl run
    # here, when no worker runs (the waits below block the reactor).
    redis = flushed(redis_url)
    listed = write_urls(tmp_path / "urls.txt", *urls, "not a URL", urls[0])
    fed = await run_crawl(
        tmp_path / "feed", listed, ARCHIVER_REDIS_URL=redis, ARCHIVER_FRONTIER_FEED=True
    )
    assert fed.stats.get_value("archiver/frontier/fed") == PAGES
    # The invalid and the duplicate line are the feeder's to record.
    assert rows(tmp_path / "feed", "SELECT position, outcome FROM seeds") == [
        (PAGES, "invalid"),
        (PAGES + 1, "duplicate"),
    ]

    workers = {name: start_worker(tmp_path, name, redis) for name in ("w1", "w2", "w3")}
    held = PAGES // HELD_EVERY
    wait_for(
        "every page but the held-back ones, and those leased",
        lambda: (
            sum(len(rows(tmp_path / n, "SELECT 1 FROM seeds")) for n in workers) == PAGES - held
            and len(owned(redis)) == held
        ),
    )
    ids = {(tmp_path / n / "worker-id").read_text().strip(): n for n in workers}
    leases = sorted(owned(redis).values())
    # Killed mid-crawl: the worker holds held-back pages in flight.
    killed = ids[max(leases, key=leases.count)]
    workers[killed].send_signal(signal.SIGKILL)
    workers[killed].wait()
    gate.set()
    # Started again on its folder, it gives back what it held (no wait for its leases).
    workers[killed] = start_worker(tmp_path, killed, redis)
    for name, process in workers.items():
        assert finished(process, tmp_path, name) == 0, (tmp_path / f"{name}.log").read_text()
    assert owned(redis) == {}

    # Nothing lost, nothing indexed twice, every page fetched once across the workers.
    seeds = [row for n in workers for row in rows(tmp_path / n, "SELECT position FROM seeds")]
    assert sorted(p for (p,) in seeds) == list(range(PAGES))
    fetched = [
        url
        for n in workers
        for (url,) in rows(tmp_path / n, "SELECT url FROM captures WHERE status = 200")
        if not url.endswith("/robots.txt")
    ]
    assert sorted(fetched) == sorted(urls)
    assert sum(1 for n in workers if rows(tmp_path / n, "SELECT 1 FROM seeds")) >= 2
    for worker, name in ids.items():
        assert all(
            f.startswith(f"archiver-{worker}-") for f in os.listdir(tmp_path / name / "warc")
        )

    merged = archiver("merge", "feed", "w1", "w2", "w3", "-o", "merged", cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    verified = archiver("verify", "merged", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    await run_crawl(tmp_path / "single", listed)
    order = f"SELECT {SEED_COLUMNS} FROM seeds ORDER BY position"
    assert rows(tmp_path / "merged", order) == rows(tmp_path / "single", order)
    assert len(rows(tmp_path / "merged", order)) == PAGES + 2
    assert corpus(tmp_path / "merged") == corpus(tmp_path / "single")
    assert len(corpus(tmp_path / "single")) == PAGES


def test_a_worker_needs_a_fed_frontier(tmp_path: Path, redis_url: str) -> None:
    redis = flushed(redis_url)
    empty = archiver("worker", "--redis", redis, "-o", "w", cwd=tmp_path)
    assert empty.returncode == 2
    assert empty.stderr == (
        f"error: nothing was fed to the frontier at {redis}: run archiver crawl INPUT "
        f"--redis {redis} first\n"
    )
    gone = archiver("worker", "--redis", "redis://127.0.0.1:1/0", "-o", "w", cwd=tmp_path)
    assert gone.returncode == 2
    assert gone.stderr.startswith("error: cannot reach Redis at redis://127.0.0.1:1/0")
    assert not (tmp_path / "w").exists()


def test_a_feed_refuses_what_only_a_crawl_does(tmp_path: Path, redis_url: str) -> None:
    redis = flushed(redis_url)
    write_urls(tmp_path / "urls.txt", "http://127.0.0.1:1/")
    result = archiver("crawl", "urls.txt", "--redis", redis, "--resume", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "error: --resume does not go with --redis (ARCHIVER_RESUME): feeding again goes on "
        "where a feed stopped\n"
    )


def test_a_feed_needs_a_file_that_stays_the_same(tmp_path: Path, redis_url: str) -> None:
    redis = flushed(redis_url)
    stdin = subprocess.run(
        [sys.executable, "-m", "crawler.cli", "crawl", "-", "--redis", redis],
        input=b"http://127.0.0.1:1/\n",
        capture_output=True,
        cwd=tmp_path,
        env=env(),
        check=False,
    )
    assert stdin.returncode == 2
    assert stdin.stderr.endswith(
        b"error: --redis cannot feed standard input: give the list as a file\n"
    )
    listed = write_urls(tmp_path / "urls.txt", "http://127.0.0.1:1/a")
    first = archiver("crawl", "urls.txt", "--redis", redis, "-o", "feed", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    write_urls(listed, "http://127.0.0.1:1/b", "http://127.0.0.1:1/a")  # edited, not done
    edited = archiver("crawl", "urls.txt", "--redis", redis, "-o", "feed", cwd=tmp_path)
    assert edited.returncode == 2
    assert "is not the list that run" in edited.stderr
    assert "its positions would collide" in edited.stderr
    run = read_run(redis)
    assert run is not None
    assert run.digest.startswith(f"{listed.stat().st_size - 21}:")  # the first list's


async def work(
    folder: Path, redis: str, worker: str, run: RunInfo | None = None, **settings: Any
) -> Any:
    """One worker's crawl, in this process (as archiver worker runs it), of ``run``."""
    run = run or read_run(redis)
    assert run is not None
    crawler = get_crawler(
        FrontierSpider,
        project_settings_dict(
            ARCHIVER_DIR=str(folder),
            ARCHIVER_REDIS_URL=redis,
            ARCHIVER_WORKER_ID=worker,
            **settings,
        ),
    )
    await crawler.crawl_async(
        frontier_input=run.input, frontier_source=run.source, frontier_run=run.run
    )
    return crawler


@deferred_f_from_coro_f
async def test_a_worker_killed_after_its_commit_does_not_fetch_again(
    tmp_path: Path, site: LocalSite, redis_url: str
) -> None:
    redis = flushed(redis_url)
    listed = write_urls(tmp_path / "urls.txt", site.url("/page"), site.url("/gzip"))
    await run_crawl(
        tmp_path / "feed", listed, ARCHIVER_REDIS_URL=redis, ARCHIVER_FRONTIER_FEED=True
    )
    first = await work(tmp_path / "w", redis, "w0000000a")
    assert first.stats.get_value("archiver/frontier/acked") == 2
    # As if killed after committing entry 1's row and before acknowledging it: still leased.
    client = redis_py.Redis.from_url(redis)
    entry = encode_entry(Seed(site.url("/gzip"), 1, str(listed), 2), str(listed))
    client.zadd(f"{PREFIX}:leases", {"1": 1e15})
    client.hset(f"{PREFIX}:inflight", "1", entry)
    client.hset(f"{PREFIX}:owners", "1", "w0000000a")
    client.close()
    requests = len(site.requests)
    again = await work(tmp_path / "w", redis, "w0000000a")
    assert len(site.requests) == requests  # its own index says it was done: acknowledged
    assert again.stats.get_value("archiver/frontier/leased") is None
    assert owned(redis) == {}
    assert again.stats.get_value("finish_reason") == "finished"


@deferred_f_from_coro_f
async def test_a_worker_whose_frontier_was_lost_stops_with_an_error(
    tmp_path: Path, site: LocalSite, redis_url: str
) -> None:
    redis = flushed(redis_url)
    listed = write_urls(tmp_path / "urls.txt", site.url("/page"))
    await run_crawl(
        tmp_path / "feed", listed, ARCHIVER_REDIS_URL=redis, ARCHIVER_FRONTIER_FEED=True
    )
    run = read_run(redis)
    flushed(redis)  # as a Redis restarted without persistence
    crawler = await work(tmp_path / "w", redis, "w0000000a", run)
    assert crawler.stats.get_value("finish_reason") == "archiver_frontier_lost"
    assert crawl_exit_code(["archiver_frontier_lost"], crawler.stats.get_stats()) == 1


@deferred_f_from_coro_f
async def test_a_worker_never_takes_the_next_runs_entries(
    tmp_path: Path, site: LocalSite, redis_url: str
) -> None:
    redis = flushed(redis_url)
    listed = write_urls(tmp_path / "urls.txt", site.url("/page"))
    await run_crawl(
        tmp_path / "feed", listed, ARCHIVER_REDIS_URL=redis, ARCHIVER_FRONTIER_FEED=True
    )
    old = read_run(redis)
    assert old is not None
    # The run this worker started on is over and the next one is queued: not its to take.
    stale = RunInfo(old.input, old.source, "r00000000", True)
    requests = len(site.requests)
    kept = await work(
        tmp_path / "w", redis, "w0000000a", stale, ARCHIVER_FRONTIER_KEEP_RUNNING=True
    )
    assert kept.stats.get_value("finish_reason") == "archiver_run_changed"
    once = await work(tmp_path / "w", redis, "w0000000a", stale)
    assert once.stats.get_value("finish_reason") == "finished"
    assert len(site.requests) == requests
    assert kept.stats.get_value("archiver/frontier/leased") is None
    assert once.stats.get_value("archiver/frontier/leased") is None
    assert owned(redis) == {}
