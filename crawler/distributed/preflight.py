"""Checks of a frontier made before a crawl starts, with no reactor running yet.

A command line that names a Redis that cannot be reached, or a frontier that
holds nothing to crawl, is a usage error (exit code 2) before anything is
written. These checks use redis-py's blocking client: they run before the
reactor does, never on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis

from crawler.distributed.frontier import PREFIX, RunInfo, keys

if TYPE_CHECKING:
    from collections.abc import Mapping

#: How long the checks wait for Redis to answer, in seconds.
PREFLIGHT_TIMEOUT = 5.0


class FrontierUnavailableError(Exception):
    """Redis cannot be reached at the URL given, or the URL is none."""


def read_run(url: str, prefix: str = PREFIX) -> RunInfo | None:
    """The run the frontier at ``url`` holds, None when nothing was ever fed."""
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=PREFLIGHT_TIMEOUT, socket_connect_timeout=PREFLIGHT_TIMEOUT
        )
    except ValueError as exc:
        raise FrontierUnavailableError(f"{url!r} is not a Redis URL: {exc}") from None
    try:
        meta = client.hgetall(keys(prefix)["meta"])
    except redis.RedisError as exc:
        raise FrontierUnavailableError(f"cannot reach Redis at {url}: {exc}") from None
    finally:
        client.close()
    return RunInfo.of(meta)


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

    Checks the settings, that Redis answers, and that the frontier holds no
    unfinished run of another input.
    """
    url = str(settings.get("ARCHIVER_REDIS_URL") or "")
    if not url:
        return "--redis needs a URL (ARCHIVER_FRONTIER_FEED needs ARCHIVER_REDIS_URL)"
    for name, option, instead in FEED_CONFLICTS:
        if settings.get(name) not in (None, "", False, "False", "false", "0", 0):
            return f"{option} does not go with --redis ({name}): {instead}"
    try:
        run = read_run(url)
    except FrontierUnavailableError as exc:
        return str(exc)
    if run is not None and run.input != input_path and not run.fed:
        return (
            f"the frontier at {url} is being fed {run.input} (run {run.run}): feed one input "
            "at a time, or use another Redis database"
        )
    return None
