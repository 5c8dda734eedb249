"""The shared frontier of a distributed crawl: input entries in Redis, leased to workers.

``archiver crawl INPUT --redis URL`` feeds the entries of INPUT into Redis and
``archiver worker --redis URL -o DIR`` crawls them, on any number of machines.
Under :data:`PREFIX` (one frontier per Redis database) Redis holds:

- ``meta``, a hash: the ``input`` fed (its absolute path on the feeding
  machine), its ``source`` (the path as given, what seed rows name), the
  ``run`` id, ``fed`` (1 once the whole input was fed) and ``started_at``;
- ``queue``, a list of entries waiting for a worker, each a compact JSON array
  (:func:`encode_entry`) that keeps the entry's identity (position, line,
  source, corpus document, date, credentials), so that a worker's seed rows
  and text file names are those a single-machine crawl gives;
- ``seen``, a set of the 8-byte keys of the URLs fed (:func:`seen_key`): a
  feed that is run again (after a feeder died, or twice) adds nothing twice;
- ``leases``, a sorted set of the entries in flight by position, scored with
  the time (Redis's clock, in ms) their lease runs out; ``inflight`` and
  ``owners``, hashes from position to the entry and to the worker holding it.

Taking entries is one script run: leases that ran out go back to the head of
the queue first, then up to ``count`` entries move from the queue into the
leases, atomically. A worker renews its leases while it lives and acknowledges
an entry once its seed row is committed to its own index; an entry whose
worker died (its lease runs out, or that worker starts again) is taken again.
Delivery is at least once: an entry whose row was committed just before its
worker was killed is fetched again, and merging the archives keeps one seed
row per position (``archiver merge``). A lease that runs out on a live worker
(stalled longer than the lease time) may be fetched twice the same way.

All times are Redis's, so the machines' clocks need not agree. The keys share
one hash tag, so that every script runs on one Redis Cluster node too.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from crawler.distributed.client import ALLOW_OOM, redis_client
from crawler.inputs import Seed, dedup_key

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

#: Key prefix of the frontier; the braces make it one Redis Cluster hash slot.
PREFIX = "archiver:{frontier}"
#: Leases that ran out, returned to the queue at most this many at a time (each take).
EXPIRED_BATCH = 1000
#: What the take script answers when the frontier holds no run, or another run.
RUN_LOST = -1
RUN_CHANGED = -2
#: The head of an input file that its digest reads (with its size): 1 MiB.
DIGEST_BYTES = 1 << 20

_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: queue, leases, inflight, owners, meta. ARGV: worker, count, ttl (ms), run.
# Returns the entries now leased to the worker; RUN_LOST when the frontier holds no run
# (flushed, or a Redis restarted without persistence), RUN_CHANGED when it holds another.
# Leases of this worker that ran out are renewed, not queued: it is alive, and holds them.
_TAKE = (
    _NOW
    + f"local expired_batch = {EXPIRED_BATCH}\n"
    + f"local run_lost, run_changed = {RUN_LOST}, {RUN_CHANGED}\n"
    + """
local run = redis.call('HGET', KEYS[5], 'run')
if not run then return run_lost end
if run ~= ARGV[4] then return run_changed end
local deadline = now + tonumber(ARGV[3])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, expired_batch)
-- Pushed last first: they go back in the order they were leased.
for i = #expired, 1, -1 do
  local id = expired[i]
  if redis.call('HGET', KEYS[4], id) == ARGV[1] then
    redis.call('ZADD', KEYS[2], deadline, id)
  else
    local entry = redis.call('HGET', KEYS[3], id)
    if entry then redis.call('LPUSH', KEYS[1], entry) end
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
  end
end
local taken = {}
for i = 1, tonumber(ARGV[2]) do
  local entry = redis.call('LPOP', KEYS[1])
  if not entry then break end
  local id = string.match(entry, '^%[(%d+)')
  redis.call('ZADD', KEYS[2], deadline, id)
  redis.call('HSET', KEYS[3], id, entry)
  redis.call('HSET', KEYS[4], id, ARGV[1])
  taken[#taken + 1] = entry
end
return taken
"""
)

# KEYS: leases, owners. ARGV: worker, ttl (ms), positions. Returns how many were renewed.
_RENEW = (
    ALLOW_OOM
    + _NOW
    + """
local deadline = now + tonumber(ARGV[2])
local renewed = 0
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], 'XX', deadline, ARGV[i])
    renewed = renewed + 1
  end
end
return renewed
"""
)

# KEYS: queue, leases, inflight, owners. ARGV: worker, "ack" or "release", positions.
# Ends the worker's leases of these positions: done, or back to the head of the queue.
# A lease the worker no longer holds (it ran out) is left to whoever holds it now.
_END = (
    ALLOW_OOM
    + """
local ended = 0
-- Last first: released entries go back to the head of the queue in the order given.
for i = #ARGV, 3, -1 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[4], id) == ARGV[1] then
    if ARGV[2] == 'release' then
      redis.call('LPUSH', KEYS[1], redis.call('HGET', KEYS[3], id))
    end
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    ended = ended + 1
  end
end
return ended
"""
)

# KEYS: owners. ARGV: worker. The positions leased to the worker.
_OWNED = """
local owned = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i + 1] == ARGV[1] then owned[#owned + 1] = all[i] end
end
return owned
"""

# KEYS: seen, queue. ARGV: key, entry, key, entry... Returns how many were new.
_FEED = """
local fed = 0
for i = 1, #ARGV, 2 do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i + 1])
    fed = fed + 1
  end
end
return fed
"""

# KEYS: meta, queue, leases, seen. ARGV: input, source, new run id, now (ISO), digest.
# Returns {run id, "new" | "continued"}, {run id, "busy", input} when another input's
# run is not over, or {run id, "changed", digest} when this input's run is not over but
# the input is no longer the one it began with (its positions would collide).
_BEGIN = """
local input = redis.call('HGET', KEYS[1], 'input')
local run = redis.call('HGET', KEYS[1], 'run')
local over = redis.call('HGET', KEYS[1], 'fed') == '1'
  and redis.call('LLEN', KEYS[2]) == 0 and redis.call('ZCARD', KEYS[3]) == 0
if run and not over then
  if input ~= ARGV[1] then return {run, 'busy', input} end
  local digest = redis.call('HGET', KEYS[1], 'digest')
  if digest and digest ~= '' and digest ~= ARGV[5] then return {run, 'changed', digest} end
  redis.call('HSET', KEYS[1], 'fed', '0')
  return {run, 'continued'}
end
redis.call('UNLINK', KEYS[4])
redis.call('HSET', KEYS[1], 'input', ARGV[1], 'source', ARGV[2], 'run', ARGV[3],
  'fed', '0', 'started_at', ARGV[4], 'digest', ARGV[5])
return {ARGV[3], 'new'}
"""


def input_digest(path: str) -> str:
    """What tells one input file from another: its size and the SHA-256 of its head.

    ``{size}:{hex}`` of the first :data:`DIGEST_BYTES`; OSError if it cannot be read.
    """
    with open(path, "rb") as handle:
        head = handle.read(DIGEST_BYTES)
        size = os.fstat(handle.fileno()).st_size
    return f"{size}:{hashlib.sha256(head).hexdigest()}"


class FrontierBusyError(Exception):
    """The frontier holds the unfinished run of another input, or of this one as it was."""


class RunChangedError(Exception):
    """The frontier no longer holds the run a worker serves: another run, or none."""

    def __init__(self, run: str, lost: bool) -> None:
        self.run = run
        #: True when the frontier holds no run at all (flushed, or Redis lost its data).
        self.lost = lost
        what = "holds no run any more" if lost else "holds another run now"
        super().__init__(f"the frontier {what}, not run {run}")


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The run a frontier holds: what input, under which id, how far."""

    input: str  #: absolute path on the feeding machine
    source: str  #: the input as given: seed rows name it
    run: str
    fed: bool  #: the whole input was fed
    digest: str = ""  #: :func:`input_digest` of the input ("" for a run fed before it)

    @classmethod
    def of(cls, meta: Mapping[Any, Any]) -> RunInfo | None:
        """The run of the frontier's ``meta`` hash, as Redis gives it; None if it has none."""
        text = {_text(key): _text(value) for key, value in meta.items()}
        if "run" not in text:
            return None
        return cls(
            text["input"],
            text["source"],
            text["run"],
            text.get("fed") == "1",
            text.get("digest", ""),
        )

    @property
    def crawl_input(self) -> str:
        """The input the workers' crawls record: one name per run, for merging."""
        return f"{self.input}#run={self.run}"


@dataclass(frozen=True, slots=True)
class FrontierState:
    queued: int
    leased: int
    run: RunInfo | None

    @property
    def over(self) -> bool:
        """Everything was fed, and no entry is waiting or in flight."""
        return self.run is not None and self.run.fed and not self.queued and not self.leased


def keys(prefix: str = PREFIX) -> dict[str, str]:
    return {
        part: f"{prefix}:{part}"
        for part in ("meta", "queue", "seen", "leases", "inflight", "owners")
    }


def seen_key(seed: Seed) -> bytes:
    """The seen set's key of an entry: its URL's 8-byte digest (its credentials' too)."""
    key = dedup_key(seed.url)
    if seed.userinfo is None:
        return key
    return hashlib.blake2b(key + seed.userinfo.encode("utf-8"), digest_size=8).digest()


def encode_entry(seed: Seed, default_source: str) -> str:
    """An entry as the frontier holds it: a JSON array led by its position.

    ``[position, line, url, source, document, published, userinfo]``, trailing
    nulls left out; ``source`` is null when it is the run's (a URL list's).
    """
    fields: list[Any] = [
        seed.position,
        seed.line,
        seed.url,
        None if seed.source == default_source else seed.source,
        seed.document,
        seed.published.isoformat() if seed.published else None,
        seed.userinfo,
    ]
    while fields[-1] is None:
        fields.pop()
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def decode_entry(data: bytes | str, default_source: str) -> Seed:
    """The entry :func:`encode_entry` made; ValueError if it is not one."""
    try:
        fields = json.loads(data)
        fields += [None] * (7 - len(fields))
        position, line, url, source, document, published, userinfo = fields
        if not (isinstance(position, int) and isinstance(line, int) and isinstance(url, str)):
            raise ValueError("position, line and URL expected")
        return Seed(
            url,
            position,
            source if source is not None else default_source,
            line,
            document,
            date.fromisoformat(published) if published else None,
            userinfo,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a frontier entry: {data!r} ({exc})") from None


class Frontier:
    """One worker's or feeder's side of the frontier, on redis-py's asyncio client."""

    def __init__(self, url: str, *, worker: str = "", prefix: str = PREFIX) -> None:
        self.redis: Redis = redis_client(url)
        self.url = url
        self.worker = worker
        self.keys = keys(prefix)
        self._take: AsyncScript = self.redis.register_script(_TAKE)
        self._renew: AsyncScript = self.redis.register_script(_RENEW)
        self._end: AsyncScript = self.redis.register_script(_END)
        self._owned: AsyncScript = self.redis.register_script(_OWNED)
        self._feed: AsyncScript = self.redis.register_script(_FEED)
        self._begin: AsyncScript = self.redis.register_script(_BEGIN)

    def _k(self, *parts: str) -> list[str]:
        return [self.keys[part] for part in parts]

    # -- feeding ---------------------------------------------------------------

    async def begin(
        self, input: str, source: str, new_run: str, digest: str = ""
    ) -> tuple[str, bool]:
        """Start feeding ``input`` (its :func:`input_digest`): its run id, and whether it is new.

        Feeding an input whose run is not over goes on with that run (what was
        fed already is not fed again); FrontierBusyError for another input's, or
        for this input when its digest is not the one its run began with.
        """
        now = datetime.now(UTC).isoformat()
        answer = await self._begin(
            keys=self._k("meta", "queue", "leases", "seen"),
            args=[input, source, new_run, now, digest],
        )
        run, status = answer[0].decode(), answer[1].decode()
        if status == "busy":
            raise FrontierBusyError(
                f"the frontier at {self.url} holds run {run} of {answer[2].decode()}, not over "
                "yet: let its workers finish, or use another Redis database"
            )
        if status == "changed":
            raise FrontierBusyError(changed_input(self.url, input, run))
        return run, status == "new"

    async def feed(self, entries: Sequence[tuple[bytes, str]]) -> int:
        """Queue the entries (seen key, encoded entry) not seen yet; how many were new."""
        if not entries:
            return 0
        args = [part for pair in entries for part in pair]
        return int(await self._feed(keys=self._k("seen", "queue"), args=args))

    async def fed(self) -> None:
        """Say that the whole input was fed: workers may stop once it is all done."""
        await self.redis.hset(self.keys["meta"], "fed", "1")

    # -- working ---------------------------------------------------------------

    async def run_info(self) -> RunInfo | None:
        return RunInfo.of(await self.redis.hgetall(self.keys["meta"]))

    async def state(self) -> FrontierState:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.llen(self.keys["queue"])
            pipe.zcard(self.keys["leases"])
            pipe.hgetall(self.keys["meta"])
            queued, leased, meta = await pipe.execute()
        return FrontierState(int(queued), int(leased), RunInfo.of(meta))

    async def take(self, count: int, ttl: float, run: str) -> list[bytes]:
        """Lease up to ``count`` entries of ``run`` for ``ttl`` seconds (expired leases first).

        RunChangedError, and nothing leased, when the frontier no longer holds ``run``.
        """
        answer = await self._take(
            keys=self._k("queue", "leases", "inflight", "owners", "meta"),
            args=[self.worker, count, _ms(ttl), run],
        )
        if isinstance(answer, int):
            raise RunChangedError(run, lost=answer == RUN_LOST)
        return list(answer)

    async def renew(self, positions: Iterable[int], ttl: float) -> int:
        """Push this worker's leases of ``positions`` to ``ttl`` from now; how many it holds."""
        ids = list(positions)
        if not ids:
            return 0
        return int(
            await self._renew(keys=self._k("leases", "owners"), args=[self.worker, _ms(ttl), *ids])
        )

    async def ack(self, positions: Iterable[int]) -> int:
        """These entries are done: their seed rows are committed."""
        return await self._end_leases("ack", positions)

    async def release(self, positions: Iterable[int]) -> int:
        """Give these entries back, to the head of the queue."""
        return await self._end_leases("release", positions)

    async def _end_leases(self, how: str, positions: Iterable[int]) -> int:
        ids = list(positions)
        if not ids:
            return 0
        return int(
            await self._end(
                keys=self._k("queue", "leases", "inflight", "owners"),
                args=[self.worker, how, *ids],
            )
        )

    async def owned(self) -> list[int]:
        """The positions leased to this worker (by this process or an earlier one)."""
        return [int(p) for p in await self._owned(keys=self._k("owners"), args=[self.worker])]

    async def close(self) -> None:
        await self.redis.aclose()


def changed_input(url: str, input: str, run: str) -> str:
    """Why a changed input cannot go on with its run: its positions would collide."""
    return (
        f"{input} is not the list that run {run} in the frontier at {url} began with (its "
        "size or head changed): its positions would collide; let that run's workers finish "
        "first, or use another Redis database"
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
