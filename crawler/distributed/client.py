"""The Redis client of a distributed crawl: explicit timeouts, and no retry behind its back.

Every client of the frontier (:mod:`crawler.distributed.frontier`) and of the
host slots (:mod:`crawler.distributed.hosts`) is made here, so that its
behaviour does not depend on redis-py's version: a Redis that does not answer
is an error after :data:`SOCKET_TIMEOUT` seconds (:data:`CONNECT_TIMEOUT` to
connect), and a command is never sent again by the client itself. The scripts
that take entries or host slots are not idempotent: sent twice after a timeout
whose first run did happen, they would lease twice. The callers decide what a
failed command means (a lease runs out, a feed stops and is run again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: How long a command may wait for Redis's answer before it fails, in seconds.
SOCKET_TIMEOUT = 10.0
#: How long connecting to Redis may take before it fails, in seconds.
CONNECT_TIMEOUT = 5.0
#: The first line of a script that must run when Redis is full (maxmemory reached, its
#: write commands refused): lease renewals and acknowledgements, which refused would lose
#: work. Redis 7's script flags.
ALLOW_OOM = "#!lua flags=allow-oom\n"


def redis_client(url: str) -> Redis:
    """An asyncio client of the Redis at ``url``; ValueError if it is not a Redis URL."""
    # Here, not at module level: a crawl without Redis does not pay redis-py's import.
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    try:
        return Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry_on_timeout=False,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        raise ValueError(f"ARCHIVER_REDIS_URL {url!r} is not a Redis URL: {exc}") from None
