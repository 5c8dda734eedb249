"""Per-host concurrency and spacing hold, in one crawl and across crawls sharing a Redis.

The server counts the requests it is serving at once: a request is counted
from when its handler starts until its response is written, a span inside the
crawler's own, so the server never counts more than the crawler runs.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f

from tests.conftest import FAST, archiver, index_rows, run_crawl, write_urls
from tests.redis_server import flushed, redis_server
from tests.server import PAGE, Handler, LocalSite, response

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

HTML = [("Content-Type", "text/html; charset=utf-8")]
#: Server-side arrival times can be this much closer than the crawler's send times.
SLACK = 0.05


class CountingSite(LocalSite):
    """A site whose ``/held/...`` pages take ``hold`` seconds each and count who is served."""

    def __init__(self, hold: float = 0.3) -> None:
        super().__init__()
        self.hold = hold
        self.serving = 0
        self.peak = 0
        self.served = 0
        self.arrivals: list[tuple[str, float]] = []
        #: The user agent of each arrival: which worker asked.
        self.agents: list[str] = []
        self._count_lock = threading.Lock()
        self.add("/held/*", self._held)

    def reset(self, hold: float, robots: bytes = b"User-agent: *\nDisallow: /private/\n") -> None:
        self.hold = hold
        self.serving = self.peak = self.served = 0
        self.arrivals.clear()
        self.agents.clear()
        self.add(
            "/robots.txt", lambda h: response("200 OK", [("Content-Type", "text/plain")], robots)
        )

    def log_request_line(self, handler: Handler) -> None:
        with self._count_lock:
            self.arrivals.append((handler.path, time.monotonic()))
            self.agents.append(handler.headers.get("User-Agent", ""))
        super().log_request_line(handler)

    def _held(self, handler: Handler) -> bytes:
        with self._count_lock:
            self.serving += 1
            self.peak = max(self.peak, self.serving)
        try:
            time.sleep(self.hold)
        finally:
            with self._count_lock:
                self.serving -= 1
                self.served += 1
        return response("200 OK", HTML, PAGE)

    def pages(self, name: str, count: int) -> list[str]:
        return [self.url(f"/held/{name}/{n}") for n in range(count)]


@pytest.fixture(scope="module")
def counting_server() -> Iterator[CountingSite]:
    server = CountingSite()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def counting(counting_server: CountingSite) -> CountingSite:
    counting_server.reset(hold=0.3)
    return counting_server


def outcomes(archive_dir: Path) -> set[str]:
    return {r["outcome"] for r in index_rows(archive_dir, "SELECT outcome FROM seeds")}


# -- one crawl -----------------------------------------------------------------------


@deferred_f_from_coro_f
async def test_scrapy_alone_overshoots_without_a_delay(
    counting: CountingSite, tmp_path: Path, archive_dir: Path
) -> None:
    """Scrapy 2.19's own limit, without the archiver's slots: more than 2 at once.

    When this fails, Scrapy holds CONCURRENT_REQUESTS_PER_DOMAIN by itself again and
    HostSlotsMiddleware's local limit is no longer needed.
    """
    urls = counting.pages("alone", 8)
    await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", *urls),
        CONCURRENT_REQUESTS_PER_DOMAIN=2,
        ARCHIVER_HOST_SLOTS_ENABLED=False,
    )
    assert counting.served == 8
    assert counting.peak > 2, counting.peak


@deferred_f_from_coro_f
async def test_the_limit_holds_without_a_delay(
    counting: CountingSite, tmp_path: Path, archive_dir: Path
) -> None:
    urls = counting.pages("nodelay", 8)
    crawler = await run_crawl(
        archive_dir, write_urls(tmp_path / "urls.txt", *urls), CONCURRENT_REQUESTS_PER_DOMAIN=2
    )
    assert counting.served == 8
    assert counting.peak == 2
    assert outcomes(archive_dir) == {"archived"}
    assert crawler.stats.get_value("robotstxt/request_count") == 1


@deferred_f_from_coro_f
async def test_the_limit_holds_with_a_delay(
    counting: CountingSite, tmp_path: Path, archive_dir: Path
) -> None:
    # Starts 1 s apart, each served for 2.2 s: the third would overlap the first two.
    counting.reset(hold=2.2)
    urls = counting.pages("delay", 3)
    await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", *urls),
        CONCURRENT_REQUESTS_PER_DOMAIN=2,
        DOWNLOAD_DELAY=1,
        DOWNLOAD_DELAY_JITTER=0,
    )
    assert counting.served == 3
    assert counting.peak == 2
    assert outcomes(archive_dir) == {"archived"}


@deferred_f_from_coro_f
async def test_a_slot_of_its_own_keeps_its_concurrency(
    counting: CountingSite, tmp_path: Path, archive_dir: Path
) -> None:
    urls = counting.pages("slots", 6)
    await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", *urls),
        CONCURRENT_REQUESTS_PER_DOMAIN=4,
        DOWNLOAD_SLOTS={"127.0.0.1": {"concurrency": 1}},
    )
    assert counting.served == 6
    assert counting.peak == 1


def test_a_limit_below_one_is_refused(tmp_path: Path) -> None:
    urls = write_urls(tmp_path / "urls.txt", "http://127.0.0.1:9/")
    done = archiver(
        "crawl", str(urls), "-o", str(tmp_path / "a"), "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=0"
    )
    assert done.returncode != 0
    assert "CONCURRENT_REQUESTS_PER_DOMAIN must be at least 1, not 0" in done.stderr


# -- crawls sharing a Redis ----------------------------------------------------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server of this module's own, on a free port, with nothing saved to disk."""
    pytest.importorskip("redis", reason="the redis package is not installed")
    yield from redis_server(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def redis_db(redis_url: str) -> str:
    """The module's Redis, emptied: each test starts with no slots taken."""
    import redis

    client = redis.Redis.from_url(flushed(redis_url))
    client.config_resetstat()
    client.close()
    return redis_url


def crawl_together(
    site: CountingSite, tmp_path: Path, workers: int, per_worker: int, *extra: str
) -> list[subprocess.CompletedProcess[str]]:
    """``workers`` crawls of ``site`` at once, in processes of their own, each its own URLs."""
    with ThreadPoolExecutor(workers) as pool:
        runs = [
            pool.submit(
                archiver,
                "crawl",
                str(write_urls(tmp_path / f"urls{n}.txt", *site.pages(f"w{n}", per_worker))),
                "-o",
                str(tmp_path / f"archive{n}"),
                *FAST,
                "-s",
                "CONCURRENT_REQUESTS_PER_DOMAIN=2",
                "-s",
                "ARCHIVER_TEXT_ENABLED=0",
                "-s",
                f"USER_AGENT=worker {n}",
                *extra,
            )
            for n in range(workers)
        ]
        return [run.result() for run in runs]


def all_at_work(site: CountingSite, workers: int) -> bool:
    """Whether the workers were all at work at one time: from their robots.txt to their last page.

    They then wanted more slots at once than the host has.
    """
    times = [t for _, t in site.arrivals]
    spans = [
        [t for t, agent in zip(times, site.agents, strict=True) if agent == f"worker {n}"]
        for n in range(workers)
    ]
    return max(min(span) for span in spans) < min(max(span) for span in spans)


def test_the_limit_holds_across_workers(
    counting: CountingSite, tmp_path: Path, redis_db: str
) -> None:
    runs = crawl_together(counting, tmp_path, 3, 10, "-s", f"ARCHIVER_REDIS_URL={redis_db}")
    assert [run.returncode for run in runs] == [0, 0, 0], runs[0].stderr[-2000:]
    assert counting.served == 30
    assert all_at_work(counting, 3)  # they asked for 6 at once
    assert counting.peak == 2
    # Every worker read the robots.txt itself.
    assert sum(path == "/robots.txt" for path, _ in counting.arrivals) == 3


def test_workers_without_redis_each_keep_their_own_limit(
    counting: CountingSite, tmp_path: Path
) -> None:
    runs = crawl_together(counting, tmp_path, 3, 6)
    assert [run.returncode for run in runs] == [0, 0, 0], runs[0].stderr[-2000:]
    assert counting.served == 18
    assert all_at_work(counting, 3)
    assert 2 < counting.peak <= 6, counting.peak  # each worker holds its own 2, no more


def test_crawl_delay_spaces_requests_across_workers(
    counting: CountingSite, tmp_path: Path, redis_db: str
) -> None:
    counting.reset(hold=0.0, robots=b"User-agent: *\nCrawl-delay: 1\n")
    runs = crawl_together(counting, tmp_path, 2, 2, "-s", f"ARCHIVER_REDIS_URL={redis_db}")
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr[-2000:]
    assert len(counting.arrivals) == 6
    for (first, at), (second, then) in itertools.pairwise(counting.arrivals):
        if first == second == "/robots.txt":
            continue  # no worker knew the Crawl-delay yet
        assert then - at >= 1 - SLACK, counting.arrivals


def test_retry_after_holds_the_host_for_every_worker(
    counting: CountingSite, tmp_path: Path, redis_db: str
) -> None:
    robots = counting.routes["/robots.txt"]
    busy = response("503 Service Unavailable", [("Retry-After", "2")], b"busy\n")
    answers = iter([busy])

    def late_robots(handler: Handler) -> bytes:
        # The other worker's robots.txt comes once the 503 is surely recorded in Redis: the
        # crawls start at once, and a page asked before the 503 is known cannot be held.
        time.sleep(0.5)
        return robots(handler)

    counting.add("/robots.txt", lambda h: next(answers, None) or late_robots(h))
    runs = crawl_together(counting, tmp_path, 2, 2, "-s", f"ARCHIVER_REDIS_URL={redis_db}")
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr[-2000:]
    busy_at = counting.arrivals[0][1]
    pages = [
        (agent, t)
        for (path, t), agent in zip(counting.arrivals, counting.agents, strict=True)
        if path.startswith("/held/")
    ]
    # The worker that got the 503 holds the host by itself; the other one, only through Redis.
    assert {agent for agent, _ in pages} == {"worker 0", "worker 1"}
    assert min(t for _, t in pages) - busy_at >= 2 - SLACK, counting.arrivals


# -- the slots in Redis, without a crawl -----------------------------------------------


@deferred_f_from_coro_f
async def test_a_dead_workers_slots_come_back(redis_db: str) -> None:
    import redis

    from crawler.distributed.hosts import POLL_FIRST, RedisHostSlots

    dead = RedisHostSlots(redis_db, ttl=0.5)
    alive = RedisHostSlots(redis_db, ttl=0.5)
    try:
        for _ in range(2):
            await dead.acquire("example.com", 2, 0.0)
        # The dead worker never renews nor gives back its two leases.
        dead.held.clear()
        started = time.monotonic()
        lease, wait = await alive.acquire("example.com", 2, 0.0)
        assert time.monotonic() - started >= 0.4
        assert wait == 0
        await alive.release("example.com", lease)
    finally:
        await dead.close()
        await alive.close()
    client = redis.Redis.from_url(redis_db)
    stats = client.info("commandstats")
    client.close()
    # Waiting polled with a backoff, not in a busy loop.
    polls = stats["cmdstat_evalsha"]["calls"] - 2
    assert polls <= 0.5 / POLL_FIRST + 2


@deferred_f_from_coro_f
async def test_starts_are_booked_apart_and_after_a_hold(redis_db: str) -> None:
    import redis

    from crawler.distributed.hosts import RedisHostSlots

    client = redis.Redis.from_url(redis_db)
    times = "archiver:hosts:example.com:times"
    slots = RedisHostSlots(redis_db, ttl=10)
    try:
        _, first = await slots.acquire("example.com", 5, 2.0)
        booked = [int(client.hget(times, "last") or 0)]
        _, second = await slots.acquire("example.com", 5, 2.0)
        booked.append(int(client.hget(times, "last") or 0))
        assert first == 0
        assert 0 < second <= 2.0
        assert booked[1] - booked[0] == 2000
        await slots.hold("example.com", 30)
        _, held = await slots.acquire("example.com", 5, 2.0)
        assert 2.0 < held <= 30
        assert client.hget(times, "last") == client.hget(times, "hold")
        _, other = await slots.acquire("other.example", 5, 2.0)
        assert other == 0
        assert client.zcard("archiver:hosts:example.com:leases") == 3
    finally:
        await slots.close()
        client.close()
