"""What one Redis holds for a distributed crawl: bytes per URL in the frontier and seen set.

Feeds COUNT URLs (one million by default) into the frontier of a throwaway
redis-server (or of --redis URL, whose database is emptied first), exactly as
``archiver crawl FILE --redis URL`` feeds them, then leases a share of them as
workers do, and prints Redis's own figures: ``INFO memory``'s used_memory before
and after, and ``MEMORY USAGE`` of each key. Run by hand::

    .venv/bin/python bench/frontier_memory.py [--count 1000000] [--leased 10000]

The URLs are news-article-like, 70 to 90 characters (the length of the URLs in
the corpora this tool rebuilds); a longer URL costs its extra bytes once, in
the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawler.distributed.feed import FEED_BATCH
from crawler.distributed.frontier import Frontier, encode_entry, keys, seen_key
from crawler.inputs import Seed
from tests.redis_server import NoRedisServerError, RedisDidNotStartError, running_redis

SOURCE = "urls.txt"
#: Leases are taken this many at a time, as a worker takes them.
TAKE = 100


def url_of(n: int) -> str:
    return (
        f"https://www.news-site-{n % 5000}.example.com/2024/{n % 12 + 1:02d}/"
        f"{n % 28 + 1:02d}/an-article-headline-slug-{n}.html"
    )


def used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])  # type: ignore[index]


def usage(client: redis.Redis, key: str) -> int:
    return int(client.memory_usage(key, samples=0) or 0)  # type: ignore[arg-type]


async def feed(url: str, count: int) -> float:
    frontier = Frontier(url)
    started = time.perf_counter()
    await frontier.begin("/bench/urls.txt", SOURCE, "rbench")
    batch = []
    for n in range(count):
        seed = Seed(url_of(n), n, SOURCE, n + 1)
        batch.append((seen_key(seed), encode_entry(seed, SOURCE)))
        if len(batch) == FEED_BATCH:
            await frontier.feed(batch)
            batch = []
    await frontier.feed(batch)
    await frontier.fed()
    elapsed = time.perf_counter() - started
    await frontier.close()
    return elapsed


async def lease(url: str, count: int) -> None:
    frontier = Frontier(url, worker="wbench000")
    for _ in range(0, count, TAKE):
        await frontier.take(TAKE, 3600, "rbench")
    await frontier.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--leased", type=int, default=10_000, help="entries in flight")
    parser.add_argument("--redis", help="a Redis URL whose database may be emptied")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        try:
            with nullcontext(args.redis) if args.redis else running_redis(Path(folder)) as url:
                report(url, args.count, args.leased)
        except (NoRedisServerError, RedisDidNotStartError) as exc:
            sys.exit(f"{exc} (or give --redis)")


def report(url: str, count: int, leased_count: int) -> None:
    """Feed ``count`` URLs into the Redis at ``url``, lease some, print what memory they take."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    info = client.info("server")
    before = used(client)
    seconds = asyncio.run(feed(url, count))
    fed = used(client)
    k = keys()
    queue, seen = usage(client, k["queue"]), usage(client, k["seen"])
    asyncio.run(lease(url, leased_count))
    leased = used(client)
    mean_url = sum(len(url_of(n)) for n in range(0, count, 997)) / len(range(0, count, 997))
    print(f"Redis {info['redis_version']} ({info.get('os', '')})")
    print(f"URLs fed: {count:,} (mean URL {mean_url:.0f} characters)")
    print(f"feed time: {seconds:.1f} s ({count / seconds:,.0f} URLs/s)")
    print(
        f"used_memory: {before:,} -> {fed:,} bytes: {(fed - before) / count:.1f} bytes per URL fed"
    )
    print(f"  queue (list): {queue:,} bytes, {queue / count:.1f} per URL")
    print(f"  seen (set):   {seen:,} bytes, {seen / count:.1f} per URL")
    print(
        f"leased {leased_count:,} (in flight): +{leased - fed:,} bytes, "
        f"{(leased - fed) / leased_count:.1f} per lease"
    )


if __name__ == "__main__":
    main()
