"""A throwaway redis-server for tests and benchmarks: a free port on 127.0.0.1, nothing saved.

Tests that need it skip, saying how to install it, when ``redis-server`` is not
on PATH (CI installs it: see .ci/run); benchmarks stop with that message.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: How long the server may take to answer its first PING, in seconds.
START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class NoRedisServerError(Exception):
    """``redis-server`` is not on PATH."""


class RedisDidNotStartError(Exception):
    """``redis-server`` did not answer in time."""


@contextmanager
def running_redis(folder: Path) -> Iterator[str]:
    """Run redis-server in ``folder`` until the block ends; gives its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise NoRedisServerError("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RedisDidNotStartError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def redis_server(folder: Path) -> Iterator[str]:
    """For a fixture: redis-server in ``folder`` until the generator is closed; yields its URL."""
    import pytest

    try:
        with running_redis(folder) as url:
            yield url
    except NoRedisServerError as exc:
        pytest.skip(str(exc))
    except RedisDidNotStartError as exc:
        pytest.fail(str(exc))


def flushed(url: str) -> str:
    """``url``'s database, emptied."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url
