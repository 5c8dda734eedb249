"""The shared frontier in a real Redis: feeding, leases, acknowledgements, dead workers."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING

import pytest
import redis
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.defer import deferred_f_from_coro_f
from scrapy.utils.test import get_crawler

from crawler.distributed.feed import FrontierFeed
from crawler.distributed.frontier import (
    Frontier,
    FrontierBusyError,
    RunChangedError,
    decode_entry,
    encode_entry,
    seen_key,
)
from crawler.distributed.identity import WORKER_ID_NAME, WorkerIdError, worker_id
from crawler.distributed.preflight import (
    FrontierUnavailableError,
    _version_problem,
    feed_problem,
    read_run,
    redis_version_problem,
)
from crawler.inputs import Seed
from tests.redis_server import flushed, redis_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from redis_server(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def redis_db(redis_url: str) -> str:
    return flushed(redis_url)


def seeds(count: int, source: str = "urls.txt") -> list[Seed]:
    return [Seed(f"http://example.com/{n}", n, source, n + 1) for n in range(count)]


async def fed(url: str, entries: list[Seed], input: str = "/in/urls.txt") -> str:
    """Feed ``entries`` whole, as ``archiver crawl --redis`` does; the run id."""
    feeder = Frontier(url)
    try:
        run, _ = await feeder.begin(input, "urls.txt", "r1")
        await feeder.feed([(seen_key(s), encode_entry(s, "urls.txt")) for s in entries])
        await feeder.fed()
    finally:
        await feeder.close()
    return run


def positions(taken: list[bytes]) -> list[int]:
    return [decode_entry(data, "urls.txt").position for data in taken]


def test_an_entry_keeps_its_identity_through_the_frontier() -> None:
    corpus = Seed(
        "http://example.com/a#b",
        7,
        "old/007_x.txt",
        12,
        "007_x.txt",
        date(2012, 1, 30),
        "user:p%40ss",
    )
    plain = Seed("http://example.com/é", 0, "urls.txt", 3)
    for seed in (corpus, plain):
        assert decode_entry(encode_entry(seed, "urls.txt"), "urls.txt") == seed
    # The run's own source is left out of each entry.
    assert encode_entry(plain, "urls.txt") == '[0,3,"http://example.com/é"]'
    with pytest.raises(ValueError, match="not a frontier entry"):
        decode_entry(b'["x"]', "urls.txt")


def test_credentials_tell_entries_apart_in_the_seen_set() -> None:
    bare = Seed("http://example.com/", 0, "urls.txt", 1)
    assert seen_key(bare) == seen_key(Seed("HTTP://EXAMPLE.com/#top", 1, "urls.txt", 2))
    assert seen_key(bare) != seen_key(Seed("http://example.com/", 2, "urls.txt", 3, userinfo="a:b"))


@deferred_f_from_coro_f
async def test_feeding_again_queues_nothing_twice(redis_db: str) -> None:
    await fed(redis_db, seeds(5))
    feeder = Frontier(redis_db)
    run, new = await feeder.begin("/in/urls.txt", "urls.txt", "r2")
    assert (run, new) == ("r1", False)  # the same run goes on
    again = [(seen_key(s), encode_entry(s, "urls.txt")) for s in seeds(6)]
    assert await feeder.feed(again) == 1
    state = await feeder.state()
    assert (state.queued, state.leased, state.over) == (6, 0, False)
    await feeder.close()


@deferred_f_from_coro_f
async def test_a_changed_input_does_not_continue_its_run(redis_db: str) -> None:
    feeder = Frontier(redis_db)
    assert await feeder.begin("/in/urls.txt", "urls.txt", "r1", "10:aa") == ("r1", True)
    with pytest.raises(FrontierBusyError, match="is not the list that run r1"):
        await feeder.begin("/in/urls.txt", "urls.txt", "r2", "11:bb")
    assert await feeder.begin("/in/urls.txt", "urls.txt", "r2", "10:aa") == ("r1", False)
    await feeder.close()


@deferred_f_from_coro_f
async def test_another_input_waits_for_the_run_to_be_over(redis_db: str) -> None:
    await fed(redis_db, seeds(2))
    other = Frontier(redis_db)
    with pytest.raises(FrontierBusyError, match=r"holds run r1 of /in/urls\.txt"):
        await other.begin("/in/other.txt", "other.txt", "r2")
    worker = Frontier(redis_db, worker="w00000001")
    await worker.ack(positions(await worker.take(10, 60, "r1")))
    assert (await worker.state()).over
    # Over: the next feed is a new run, with a fresh seen set.
    assert await other.begin("/in/other.txt", "other.txt", "r2") == ("r2", True)
    assert await other.feed([(seen_key(s), encode_entry(s, "other.txt")) for s in seeds(2)]) == 2
    await worker.close()
    await other.close()


@deferred_f_from_coro_f
async def test_leases_are_acknowledged_released_and_renewed_by_their_worker(
    redis_db: str,
) -> None:
    await fed(redis_db, seeds(5))
    one = Frontier(redis_db, worker="w00000001")
    two = Frontier(redis_db, worker="w00000002")
    assert positions(await one.take(3, 60, "r1")) == [0, 1, 2]
    assert positions(await two.take(3, 60, "r1")) == [3, 4]
    assert await one.owned() == [0, 1, 2]
    assert await two.ack([0, 3]) == 1  # not two's to acknowledge: 0 is one's
    assert await one.renew([0, 1, 2, 3], 60) == 3
    assert await one.ack([0]) == 1
    assert await one.release([1]) == 1
    # Released: back at the head of the queue.
    assert positions(await two.take(10, 60, "r1")) == [1]
    state = await one.state()
    assert (state.queued, state.leased, state.over) == (0, 3, False)
    await one.ack([2])
    await two.ack([1, 4])
    assert (await one.state()).over
    await one.close()
    await two.close()


@deferred_f_from_coro_f
async def test_a_dead_workers_leases_return_to_the_queue(redis_db: str) -> None:
    await fed(redis_db, seeds(3))
    dead = Frontier(redis_db, worker="w00000001")
    assert positions(await dead.take(2, 0.001, "r1")) == [0, 1]
    await asyncio.sleep(0.01)  # its lease ran out: a millisecond
    alive = Frontier(redis_db, worker="w00000002")
    assert positions(await alive.take(10, 60, "r1")) == [0, 1, 2]
    # The dead worker's late acknowledgement changes nothing: the entries are another's.
    assert await dead.ack([0, 1]) == 0
    assert await alive.owned() == [0, 1, 2]
    await dead.close()
    await alive.close()


@deferred_f_from_coro_f
async def test_a_live_worker_keeps_its_own_leases_that_ran_out(redis_db: str) -> None:
    await fed(redis_db, seeds(3))
    worker = Frontier(redis_db, worker="w00000001")
    assert positions(await worker.take(2, 0.001, "r1")) == [0, 1]
    await asyncio.sleep(0.01)  # its leases ran out: a millisecond
    # Its own leases are not leased to it a second time (fetched twice): they are renewed.
    assert positions(await worker.take(10, 60, "r1")) == [2]
    assert await worker.owned() == [0, 1, 2]
    other = Frontier(redis_db, worker="w00000002")
    assert await other.take(10, 60, "r1") == []
    assert await worker.ack([0, 1, 2]) == 3
    await worker.close()
    await other.close()


@deferred_f_from_coro_f
async def test_leases_are_renewed_and_acknowledged_when_redis_is_full(redis_db: str) -> None:
    await fed(redis_db, seeds(3))
    worker = Frontier(redis_db, worker="w00000001")
    assert positions(await worker.take(3, 60, "r1")) == [0, 1, 2]
    await worker.redis.config_set("maxmemory", 1)  # full: write commands refused
    try:
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            await worker.feed([(seen_key(s), encode_entry(s, "urls.txt")) for s in seeds(4)])
        assert await worker.renew([0, 1, 2], 60) == 3
        assert await worker.ack([0]) == 1
        assert await worker.release([1]) == 1
    finally:
        await worker.redis.config_set("maxmemory", 0)
    await worker.close()


@deferred_f_from_coro_f
async def test_a_worker_takes_only_entries_of_its_own_run(redis_db: str) -> None:
    await fed(redis_db, seeds(2))
    worker = Frontier(redis_db, worker="w00000001")
    with pytest.raises(RunChangedError, match="holds another run now, not run r0") as changed:
        await worker.take(10, 60, "r0")
    assert not changed.value.lost
    state = await worker.state()
    assert (state.queued, state.leased) == (2, 0)  # nothing taken
    flushed(redis_db)
    with pytest.raises(RunChangedError, match="holds no run any more") as lost:
        await worker.take(10, 60, "r1")
    assert lost.value.lost
    await worker.close()


@deferred_f_from_coro_f
async def test_preflight_reads_the_run_without_the_reactor(redis_db: str) -> None:
    assert read_run(redis_db) is None
    await fed(redis_db, seeds(1))
    run = read_run(redis_db)
    assert run is not None
    assert (run.input, run.source, run.run, run.fed) == ("/in/urls.txt", "urls.txt", "r1", True)
    assert run.crawl_input == "/in/urls.txt#run=r1"
    settings = {"ARCHIVER_REDIS_URL": redis_db, "ARCHIVER_RESUME": True}
    assert feed_problem(settings, "/in/urls.txt") == (
        "--resume does not go with --redis (ARCHIVER_RESUME): feeding again goes on where a "
        "feed stopped"
    )


class OldRedis:
    """Answers INFO as a Redis 6.0 does: too old for the frontier's scripts."""

    def info(self, section: str) -> dict[str, str]:
        return {"redis_version": "6.0.16"}


def test_a_redis_too_old_is_refused(redis_db: str) -> None:
    assert redis_version_problem(redis_db) is None  # the 7.0 of the tests
    assert redis_version_problem("redis://127.0.0.1:1/0") is None  # unreachable: not this
    assert _version_problem(OldRedis(), "redis://old") == (  # type: ignore[arg-type]
        "the Redis at redis://old is version 6.0.16: a distributed crawl needs 7.0 or newer"
    )


def test_an_unreachable_redis_is_named() -> None:
    with pytest.raises(
        FrontierUnavailableError, match=r"cannot reach Redis at redis://127\.0\.0\.1:1/0"
    ):
        read_run("redis://127.0.0.1:1/0")
    with pytest.raises(FrontierUnavailableError, match="is not a Redis URL"):
        read_run("http://127.0.0.1/")


def test_a_worker_id_is_made_once_per_folder(tmp_path: Path) -> None:
    made = worker_id(tmp_path / "w")
    assert worker_id(tmp_path / "w") == made
    assert (tmp_path / "w" / WORKER_ID_NAME).read_text() == made + "\n"
    assert worker_id(tmp_path / "other") != made
    (tmp_path / "w" / WORKER_ID_NAME).write_text("../../etc\n")
    with pytest.raises(WorkerIdError, match="not a worker id"):
        worker_id(tmp_path / "w")


@deferred_f_from_coro_f
async def test_a_bounded_feed_waits_for_the_workers(redis_db: str, tmp_path: Path) -> None:
    listed = tmp_path / "urls.txt"
    listed.write_text("http://example.com/0\n")
    await fed(redis_db, seeds(2), str(listed))
    stats = MemoryStatsCollector(get_crawler())
    feed = FrontierFeed(redis_db, str(listed), "urls.txt", stats, max_queued=2)
    await feed.begin()
    await feed.add(Seed("http://example.com/more", 2, "urls.txt", 3))
    finishing = asyncio.ensure_future(feed.finish())
    await asyncio.sleep(0.05)
    assert not finishing.done()  # two queued: it waits, however long it takes
    worker = Frontier(redis_db, worker="w00000001")
    assert positions(await worker.take(1, 60, "r1")) == [0]
    await asyncio.wait_for(finishing, 10)
    assert stats.get_value("archiver/frontier/fed") == 1
    assert (await worker.state()).queued == 2
    await feed.close()
    await worker.close()
