"""``archiver serve [DIR | -o DIR] [--port N] [--bind ADDR] [--pywb BIN]``: browse it in pywb.

Makes sure ``DIR/indexes/index.cdxj`` is current (written from the WARC files
when missing or older than one of them), writes pywb's configuration under
``DIR/indexes/pywb/`` and runs pywb's ``wayback`` on it until Ctrl-C or
SIGTERM. Pages are then at ``http://ADDR:PORT/archive/<url>``, a given
capture at ``/archive/<14-digit timestamp>/<url>``. Exit code 0 when stopped,
1 when pywb is not installed, the port is taken or pywb ends by itself,
2 on a bad command line.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from crawler.commands import archive_root, usage_error
from crawler.filecommand import FileCommand
from crawler.layout import Layout
from crawler.pywb import (
    ToolNotFoundError,
    ensure_cdxj,
    find_tool,
    replay_root,
    wayback_command,
    write_config,
)

if TYPE_CHECKING:
    import argparse
    from pathlib import Path
    from types import FrameType

DEFAULT_PORT = 8080
DEFAULT_BIND = "127.0.0.1"
#: How long pywb may take to open its port (it starts in about a second).
STARTUP_TIMEOUT = 60.0
#: How long pywb gets to stop before it is killed.
STOP_TIMEOUT = 10.0


class Command(FileCommand):
    def syntax(self) -> str:
        return "[DIR] [--port N] [--bind ADDR]"

    def short_desc(self) -> str:
        return "Serve an archive folder in pywb, for a browser"

    def long_desc(self) -> str:
        return (
            "Serve the archive folder DIR (default ARCHIVER_DIR or ./archives) with pywb, "
            "installed in its own virtual environment (.venv-pywb at the repository root, "
            "$ARCHIVER_PYWB_BIN or --pywb). Writes DIR/indexes/index.cdxj when it is missing "
            "or stale. Pages are at http://ADDR:PORT/archive/<url>. Stop with Ctrl-C."
        )

    def examples(self) -> list[str]:
        return [
            "archiver serve                          # ./archives at http://127.0.0.1:8080/archive/",
            "archiver serve /data/crawl --port 8090  # another folder, another port",
            "archiver serve --bind 0.0.0.0           # reachable from other machines too",
        ]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (8080)")
        parser.add_argument(
            "--bind", default=DEFAULT_BIND, metavar="ADDR", help="address to listen on (127.0.0.1)"
        )
        parser.add_argument("--pywb", metavar="BIN", help="folder that holds pywb's wayback")
        parser.add_argument("-o", "--output", metavar="DIR", help="the archive folder (or DIR)")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if len(args) > 1:
            usage_error("serve takes one archive folder")
        if not 0 < opts.port < 65536:
            usage_error(f"--port {opts.port}: not a port number")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        root = archive_root(args[0] if args else None, opts.output, self.settings)
        layout = Layout(root)
        if not layout.warc_dir.is_dir():
            usage_error(f"{root} is not an archive folder (no {layout.warc_dir})")
        explicit = opts.pywb or self.settings.get("ARCHIVER_PYWB_BIN")
        try:
            wayback = find_tool("wayback", explicit)
        except ToolNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        problem = _port_problem(opts.bind, opts.port)
        if problem:
            # Else the readiness check below would take the other server for pywb.
            print(f"error: cannot listen on {opts.bind}:{opts.port}: {problem}", file=sys.stderr)
            self.exitcode = 1
            return
        _, unreadable = ensure_cdxj(layout)
        for item in unreadable:
            print(f"warning: not served: {item}", file=sys.stderr)
        workdir = write_config(layout)
        command = wayback_command(wayback, workdir, bind=opts.bind, port=opts.port)
        self.exitcode = serve(command, opts.bind, opts.port, root)


def serve(command: list[str], bind: str, port: int, root: Path) -> int:
    """Run pywb until it ends or we are told to stop; the command's exit code."""
    process = subprocess.Popen(command)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        process.terminate()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        if _wait_for_port(process, bind, port):
            print(f"Serving {root} at {replay_root(bind, port)} (Ctrl-C to stop)", flush=True)
        code = process.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to pywb too; make sure it is gone.
        stopping = True
        code = _stop(process)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            _stop(process)
    if stopping:
        return 0
    print(f"error: pywb ended with exit code {code}", file=sys.stderr)
    return 1


def _port_problem(bind: str, port: int) -> str | None:
    """Why pywb could not listen on ``bind:port`` (in use, no such address), or None."""
    try:
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((bind, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _wait_for_port(process: subprocess.Popen[bytes], bind: str, port: int) -> bool:
    """Whether pywb opened its port before ending or timing out."""
    host = "127.0.0.1" if bind in ("", "0.0.0.0") else "::1" if bind == "::" else bind
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    try:
        return process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
