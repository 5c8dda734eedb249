"""Per-host download slots and start times in Redis, shared by every worker of a crawl.

For each host (each downloader slot key) Redis holds:

- ``archiver:hosts:<host>:leases``, a sorted set of leases: one member per
  download in progress anywhere, scored with the time (Redis's clock, in ms) at
  which it expires. A host has at most its concurrency of unexpired leases. A
  worker renews its leases every third of ``ttl``; the leases of a worker that
  died expire ``ttl`` after its last renewal and its slots come back.
- ``archiver:hosts:<host>:queue`` and ``:asked``, the requests waiting for a
  slot, by the time they first and last asked; a waiter that stops asking
  (:data:`WAITER_STALE_MS`) leaves the queue.
- ``archiver:hosts:<host>:times``, a hash of ``last`` (the start time given to
  the host's latest request), ``hold`` (no start before it: a Retry-After) and
  ``floor`` (the host's Crawl-delay, as the first worker that read its
  robots.txt found it: the others space their requests by it before they have
  read it themselves).

Taking a slot is one script run, one round trip: it drops expired leases and,
if a slot is free, adds a lease and books the request's start at the first
moment that is ``spacing`` after the last booked start and past any hold; the
worker waits the time until then without asking again. When every slot is
taken the request queues, in order of its first asking, and its worker asks
again after a backoff from :data:`POLL_FIRST` doubling to :data:`POLL_MAX`: a
freed slot goes to the request that has waited longest, whichever worker it is
in, rather than to the worker that freed it. Giving a slot back is one
``ZREM``. All times are Redis's, so the workers' clocks need not agree. Keys
expire once nothing in them matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from itertools import count
from typing import TYPE_CHECKING, Any

from crawler.distributed.client import ALLOW_OOM, redis_client

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

logger = logging.getLogger(__name__)

#: Key prefix of the host slots: shared by every crawl that uses the same Redis database,
#: since a host's limits are the host's, whatever crawl asks.
PREFIX = "archiver:hosts"
#: The first wait before asking again for a slot of a host whose slots are all taken (s).
POLL_FIRST = 0.05
#: The longest such wait: a slot freed elsewhere is noticed within this time (s).
POLL_MAX = 0.5
#: Keys are kept this long (ms) past the time their content stops mattering.
GRACE_MS = 1000
#: A waiter that has not asked for this long (ms) leaves the host's queue (its worker died).
WAITER_STALE_MS = 5000

_NOW = (
    f"local grace = {GRACE_MS}\n"
    + """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function keep_leases(key)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', key, tonumber(top[2]) + grace) end
end
"""
)

# KEYS: leases, times, queue, asked. ARGV: lease id, limit, ttl (ms), spacing (ms),
# Crawl-delay (ms). Returns -1 when no slot is free for it, else the wait (ms) before the
# booked start.
_ACQUIRE = (
    _NOW
    + f"local stale = now - {WAITER_STALE_MS}\nlocal keep = {WAITER_STALE_MS} + grace\n"
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', stale)) do
  redis.call('ZREM', KEYS[3], gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', stale)
redis.call('ZADD', KEYS[3], 'NX', now, ARGV[1])
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
if redis.call('ZRANK', KEYS[3], ARGV[1]) >= free then
  redis.call('ZADD', KEYS[4], now, ARGV[1])
  redis.call('PEXPIREAT', KEYS[3], now + keep)
  redis.call('PEXPIREAT', KEYS[4], now + keep)
  return -1
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
local floor = tonumber(redis.call('HGET', KEYS[2], 'floor') or '0')
if tonumber(ARGV[5]) > floor then
  floor = tonumber(ARGV[5])
  redis.call('HSET', KEYS[2], 'floor', floor)
end
local spacing = math.max(tonumber(ARGV[4]), floor)
local start = now
local last = redis.call('HGET', KEYS[2], 'last')
if last then start = math.max(start, tonumber(last) + spacing) end
local hold = tonumber(redis.call('HGET', KEYS[2], 'hold') or '0')
start = math.max(start, hold)
redis.call('ZADD', KEYS[1], start + tonumber(ARGV[3]), ARGV[1])
keep_leases(KEYS[1])
redis.call('HSET', KEYS[2], 'last', start)
redis.call('PEXPIREAT', KEYS[2], math.max(start + spacing, hold) + grace)
return start - now
"""
)

# KEYS: leases of each lease. ARGV: ttl (ms), then the lease ids in the order of KEYS.
_RENEW = (
    ALLOW_OOM
    + _NOW
    + """
local expiry = now + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', 'GT', expiry, ARGV[i + 1])
  keep_leases(key)
end
return #KEYS
"""
)

# KEYS: times. ARGV: the wait (ms). No start before now + wait.
_HOLD = (
    _NOW
    + """
local hold = now + tonumber(ARGV[1])
if hold > tonumber(redis.call('HGET', KEYS[1], 'hold') or '0') then
  redis.call('HSET', KEYS[1], 'hold', hold)
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or now + ttl < hold + grace then
  redis.call('PEXPIREAT', KEYS[1], hold + grace)
end
return hold - now
"""
)


def _ms(seconds: float) -> int:
    return math.ceil(seconds * 1000)


class RedisHostSlots:
    """This worker's side of the shared host slots: take, give back, renew, hold."""

    def __init__(self, url: str, *, ttl: float, prefix: str = PREFIX) -> None:
        if not ttl > 0:
            raise ValueError(
                f"ARCHIVER_HOST_SLOT_TTL must be a positive number of seconds, not {ttl}"
            )
        self.redis: Redis = redis_client(url)
        self.ttl = ttl
        self.prefix = prefix
        self._acquire: AsyncScript = self.redis.register_script(_ACQUIRE)
        self._renew: AsyncScript = self.redis.register_script(_RENEW)
        self._hold: AsyncScript = self.redis.register_script(_HOLD)
        self._worker = uuid.uuid4().hex[:12]
        self._serial = count(1)
        #: The leases this worker holds: lease id -> host.
        self.held: dict[str, str] = {}
        self._renewer: asyncio.Task[None] | None = None

    def _key(self, host: str, part: str) -> str:
        return f"{self.prefix}:{host}:{part}"

    async def acquire(
        self, host: str, limit: int, spacing: float, crawl_delay: float = 0.0
    ) -> tuple[str, float]:
        """Wait for one of ``host``'s ``limit`` slots; the lease and the wait before starting.

        ``spacing`` is the least time (s) between this request's start and the
        host's previous one, whichever worker made it. ``crawl_delay`` is the
        host's Crawl-delay as this worker knows it (0: not known): kept in Redis,
        it spaces the requests of workers that have not read the robots.txt yet.
        """
        self._start_renewing()
        lease = f"{self._worker}:{next(self._serial)}"
        keys = [self._key(host, part) for part in ("leases", "times", "queue", "asked")]
        args: list[Any] = [lease, limit, _ms(self.ttl), _ms(spacing), _ms(crawl_delay)]
        backoff = POLL_FIRST
        while True:
            wait = int(await self._acquire(keys=keys, args=args))
            if wait >= 0:
                self.held[lease] = host
                return lease, wait / 1000
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, POLL_MAX)

    async def release(self, host: str, lease: str) -> None:
        self.held.pop(lease, None)
        await self.redis.zrem(self._key(host, "leases"), lease)

    async def hold(self, host: str, seconds: float) -> None:
        """No request to ``host`` from any worker starts in the next ``seconds``."""
        await self._hold(keys=[self._key(host, "times")], args=[_ms(seconds)])

    async def renew(self) -> None:
        """Push the expiry of every lease this worker holds to ``ttl`` from now."""
        held = list(self.held.items())
        if held:
            keys = [self._key(host, "leases") for _, host in held]
            await self._renew(keys=keys, args=[_ms(self.ttl), *(lease for lease, _ in held)])

    def _start_renewing(self) -> None:
        if self._renewer is None:
            self._renewer = asyncio.ensure_future(self._renew_forever())

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.renew()
            except Exception:
                logger.warning(
                    "Could not renew this worker's %(count)d host slot leases in Redis: they "
                    "expire %(ttl)g s after their last renewal",
                    {"count": len(self.held), "ttl": self.ttl},
                    exc_info=True,
                )

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        await self.redis.aclose()
