"""nginx for the benchmarks: a local site that outruns the crawler, and how busy it was.

:class:`Nginx` runs the distribution's ``nginx`` as a child (``daemon off``) with a
configuration generated into a temporary folder, on 127.0.0.1 and a free port,
with one worker process and the access log off. Static files are served with
``sendfile`` and, where a ``NAME.gz`` lies beside ``NAME`` and the client accepts
gzip, from that file as it is (``gzip_static``): the server compresses nothing.
Each top folder of the site may be given its own ``charset``, added to the
``Content-Type`` of what it serves (``text/html; charset=...``). Extra
``location`` blocks (generated pages, see bench/memory.py) go in as written.

:func:`ensure_nginx` installs the package when it is absent and apt-get can, and
:func:`max_rate` measures what the server can deliver to a bare HTTP/1.1 client
with keep-alive connections (a lower bound: the client shares the CPU with it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

#: Seconds to wait for nginx to accept connections after it starts.
START_TIMEOUT = 10.0
#: Connections of the bare client of :func:`max_rate` (the crawlers' concurrency).
RATE_CONNECTIONS = 16
#: How :func:`ensure_nginx` installs nginx, tried in turn until one gives it.
INSTALL_STEPS = (
    ["apt-get", "install", "-y", "-q", "nginx-light"],
    ["apt-get", "update", "-q"],
    ["apt-get", "install", "-y", "-q", "nginx-light"],
    ["apt-get", "install", "-y", "-q", "nginx"],
)

CONFIG = """\
{user}worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    gzip off;
    gzip_static on;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
{locations}
    }}
}}
"""


def _which_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None
    )


def ensure_nginx() -> str | None:
    """The path of ``nginx``, installed from the distribution's packages if need be."""
    if _which_nginx() or shutil.which("apt-get") is None:
        return _which_nginx()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in INSTALL_STEPS:
        subprocess.run(command, env=env, capture_output=True, check=False)
        if _which_nginx():
            break
    return _which_nginx()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    """nginx serving ``root`` on 127.0.0.1 until :meth:`stop` (or the ``with`` block ends)."""

    def __init__(
        self,
        root: Path,
        *,
        charsets: dict[str, str] | None = None,
        locations: str = "",
        binary: str = "nginx",
    ) -> None:
        self.root = root
        self.work = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        self.port = free_port()
        blocks = [
            f"        location /{folder}/ {{ charset {charset}; charset_types text/html; }}"
            for folder, charset in (charsets or {}).items()
        ]
        blocks.append(locations)
        config = self.work / "nginx.conf"
        config.write_text(
            CONFIG.format(
                # Started by root, the worker would run as nobody, who may not read a
                # site under a private temporary folder: it stays root (bound to 127.0.0.1).
                user="user root;\n" if os.geteuid() == 0 else "",
                work=self.work,
                port=self.port,
                root=root,
                locations="\n".join(blocks),
            ),
            encoding="utf-8",
        )
        self.process = subprocess.Popen(
            [binary, "-p", str(self.work), "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_ready()
        self.base = f"http://127.0.0.1:{self.port}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                log = self.work / "error.log"
                raise RuntimeError(f"nginx exited: {error or (log.exists() and log.read_text())}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not accept connections within {START_TIMEOUT} s")

    def pids(self) -> list[int]:
        """The master and its workers."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(pid) for pid in children.read_text().split()]
        return pids

    def cpu_seconds(self) -> float:
        """CPU time (user and system) of the master and workers so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _fetch_all(urls: list[str], connections: int) -> int:
    """Fetch every URL once over ``connections`` keep-alive connections; bytes received."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    split = urlsplit(urls[0])
    host, port = split.hostname or "127.0.0.1", split.port or 80

    async def worker() -> int:
        reader, writer = await asyncio.open_connection(host, port)
        received = 0
        try:
            while not queue.empty():
                parts = urlsplit(queue.get_nowait())
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    "Accept-Encoding: gzip\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"{path}: {head.splitlines()[0]!r}")
                received += len(await reader.readexactly(length))
        finally:
            writer.close()
        return received

    return sum(await asyncio.gather(*(worker() for _ in range(connections))))


def max_rate(urls: list[str], rounds: int = 3, connections: int = RATE_CONNECTIONS) -> float:
    """The best of ``rounds`` passes over ``urls``, in pages per second (gzip accepted)."""
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        asyncio.run(_fetch_all(urls, connections))
        best = max(best, len(urls) / (time.perf_counter() - start))
    return best
