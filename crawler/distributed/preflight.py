"""Checks of a frontier made before a crawl starts, with no reactor running yet.

A command line that names a Redis that cannot be reached, or a frontier that
holds nothing to crawl, is a usage error (exit code 2) before anything is
written. These checks use redis-py's blocking client: they run before the
reactor does, never on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis

from crawler.distributed.frontier import PREFIX, RunInfo, changed_input, input_digest, keys

if TYPE_CHECKING:
    from collections.abc import Mapping

#: How long the checks wait for Redis to answer, in seconds.
PREFLIGHT_TIMEOUT = 5.0
#: The oldest Redis the frontier and the host slots run on: their scripts use
#: ``ZADD ... GT`` (6.2) and script flags (``#!lua flags=allow-oom``, 7.0).
MIN_REDIS_VERSION = (7, 0)


class FrontierUnavailableError(Exception):
    """Redis cannot be reached at the URL given, or the URL is none."""


def read_run(url: str, prefix: str = PREFIX) -> RunInfo | None:
    """The run the frontier at ``url`` holds, None when nothing was ever fed."""
    return read_state(url, prefix)[0]


def read_state(url: str, prefix: str = PREFIX) -> tuple[RunInfo | None, bool]:
    """The run the frontier at ``url`` holds (None if none), and whether it is over."""
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=PREFLIGHT_TIMEOUT, socket_connect_timeout=PREFLIGHT_TIMEOUT
        )
    except ValueError as exc:
        raise FrontierUnavailableError(f"{url!r} is not a Redis URL: {exc}") from None
    names = keys(prefix)
    try:
        if (problem := _version_problem(client, url)) is not None:
            raise FrontierUnavailableError(problem)
        with client.pipeline(transaction=True) as pipe:
            pipe.hgetall(names["meta"])
            pipe.llen(names["queue"])
            pipe.zcard(names["leases"])
            meta, queued, leased = pipe.execute()
    except redis.RedisError as exc:
        raise FrontierUnavailableError(f"cannot reach Redis at {url}: {exc}") from None
    finally:
        client.close()
    run = RunInfo.of(meta)
    return run, run is not None and run.fed and not queued and not leased


def redis_version_problem(url: str) -> str | None:
    """Why the Redis at ``url`` is too old for the host slots; None if not, or unreachable.

    A Redis that cannot be reached is not a problem here: the host slots then hold
    each worker's limits on its own until it answers.
    """
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=PREFLIGHT_TIMEOUT, socket_connect_timeout=PREFLIGHT_TIMEOUT
        )
    except ValueError as exc:
        return f"ARCHIVER_REDIS_URL {url!r} is not a Redis URL: {exc}"
    try:
        return _version_problem(client, url)
    except redis.RedisError:
        return None
    finally:
        client.close()


def _version_problem(client: redis.Redis, url: str) -> str | None:
    version = str(client.info("server").get("redis_version", ""))
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return None  # not Redis's numbering (a compatible server): let it try
    if found >= MIN_REDIS_VERSION:
        return None
    wanted = ".".join(map(str, MIN_REDIS_VERSION))
    return f"the Redis at {url} is version {version}: a distributed crawl needs {wanted} or newer"


#: Settings of a crawl that mean nothing to a feed, and what to do instead.
FEED_CONFLICTS = (
    ("ARCHIVER_RESUME", "--resume", "feeding again goes on where a feed stopped"),
    ("ARCHIVER_DUE", "--due", "the workers' own archives know what is due"),
    ("ARCHIVER_REPLAY", "--replay", "replay from a single machine"),
    ("ARCHIVER_ARCHIVED_FALLBACK", "--archived", "give it to the workers"),
    ("ARCHIVER_REQUISITES", "--requisites", "give it to the workers"),
)


def feed_problem(settings: Mapping[str, Any], input_path: str) -> str | None:
    """Why ``input_path`` cannot be fed with these settings, or None.

    Checks the settings, that Redis answers, that the frontier holds no
    unfinished run of another input, and that an unfinished run of this input
    began with this very file (its positions would collide otherwise).
    """
    url = str(settings.get("ARCHIVER_REDIS_URL") or "")
    if not url:
        return "--redis needs a URL (ARCHIVER_FRONTIER_FEED needs ARCHIVER_REDIS_URL)"
    for name, option, instead in FEED_CONFLICTS:
        if settings.get(name) not in (None, "", False, "False", "false", "0", 0):
            return f"{option} does not go with --redis ({name}): {instead}"
    try:
        run, over = read_state(url)
    except FrontierUnavailableError as exc:
        return str(exc)
    if run is not None and run.input != input_path and not run.fed:
        return (
            f"the frontier at {url} is being fed {run.input} (run {run.run}): feed one input "
            "at a time, or use another Redis database"
        )
    if run is not None and run.input == input_path and run.digest and not over:
        try:
            digest = input_digest(input_path)
        except OSError as exc:
            return f"cannot read {input_path}: {exc}"
        if digest != run.digest:
            return changed_input(url, input_path, run.run)
    return None
