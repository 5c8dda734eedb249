"""Crawl speed and memory: the archiver against plain Scrapy, on real pages served locally.

Serves pages of ../shared/pages from a local HTTP server (its own process) and
crawls them with, in turn:

- ``scrapy``: a plain Scrapy spider that fetches and drops each page (the baseline);
- ``warc``: the archiver without text extraction (WARC records and index);
- ``text``: the archiver with text extraction in its process pool;
- ``wget``: ``wget --warc-file`` (one connection, one page at a time), for scale;
- ``extract``: trafilatura alone on the same pages in a process pool of the same size,
  the extraction work the ``text`` crawl has to hide behind its downloads.

Each is run --runs times, alternating; the table gives medians, ratios against
the ``scrapy`` baseline, and the peak RSS of the largest process. Usage::

    python bench/crawl.py [--pages 300] [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO.parent / "shared" / "pages"
SETS = ("wcxb", "trafilatura-eval", "readability-testpages")

PLAIN_SPIDER = """
import scrapy

class Plain(scrapy.Spider):
    name = "plain"

    async def start(self):
        for line in open(self.urls, encoding="utf-8"):
            yield scrapy.Request(line.strip(), dont_filter=True)

    def parse(self, response):
        pass
"""
COMMON = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "ROBOTSTXT_OBEY": "False",
    "LOG_LEVEL": "WARNING",
    "TELNETCONSOLE_ENABLED": "False",
    "REMOTE_CONTROL_ENABLED": "False",
}


def load_pages(count: int) -> list[bytes]:
    pages: list[bytes] = []
    per_set = -(-count // len(SETS))
    for name in SETS:
        folder = PAGES / name
        for line in (folder / "pages.jsonl").read_text(encoding="utf-8").splitlines()[:per_set]:
            pages.append(gzip.decompress((folder / json.loads(line)["html"]).read_bytes()))
    return pages[:count]


def serve(pages: list[bytes], port_file: Path) -> None:
    """Run in a child process: serve page i at /p/i until killed."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            try:
                body = pages[int(self.path.rsplit("/", 1)[-1])]
            except (ValueError, IndexError):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


def settings_args(extra: dict[str, str]) -> list[str]:
    args = []
    for name, value in {**COMMON, **extra}.items():
        args += ["-s", f"{name}={value}"]
    return args


def measure(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of the largest process of ``command``."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
        "wall = time.perf_counter() - start\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(code, wall, rss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *command], cwd=cwd, capture_output=True, text=True, check=True
    )
    code, wall, rss = out.stdout.split()
    # 3: the crawl reached its end with some entries failed (a dead URL among the pages).
    if code not in ("0", "3"):
        raise SystemExit(f"{command[:4]} failed with exit code {code}")
    return float(wall), float(rss)


def extract_alone(pages_dir: Path, workers: int) -> None:
    """Run in a child process: trafilatura on every page, in a pool of ``workers``."""
    from concurrent.futures import ProcessPoolExecutor

    files = sorted(pages_dir.iterdir())
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_extract_file, files, chunksize=4))


def _extract_file(path: Path) -> int:
    import trafilatura

    text = trafilatura.extract(path.read_bytes(), with_metadata=True, include_comments=False)
    return len(text or "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        extract_alone(Path(args.child[0]), int(args.child[1]))
        return
    if not PAGES.exists():
        print(f"skipped: {PAGES} is absent (the shared page sets live beside the checkout)")
        return
    pages = load_pages(args.pages)
    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    port_file = work / "port"
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(REPO)!r}); "
            f"from bench.crawl import load_pages, serve; from pathlib import Path; "
            f"serve(load_pages({args.pages}), Path({str(port_file)!r}))",
        ],
    )
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        urls = work / "urls.txt"
        urls.write_text("".join(f"{base}/p/{i}\n" for i in range(len(pages))), encoding="utf-8")
        pages_dir = work / "pages"
        pages_dir.mkdir()
        for i, body in enumerate(pages):
            (pages_dir / f"{i:05d}.html").write_bytes(body)
        (work / "plain.py").write_text(PLAIN_SPIDER, encoding="utf-8")
        total_bytes = sum(map(len, pages))
        print(
            f"{len(pages)} pages, {total_bytes / 1e6:.1f} MB, {args.workers} extraction workers, "
            f"{args.runs} runs each; {os.cpu_count()} cores"
        )
        results = run_all(args, work, urls, pages_dir)
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    report(results, len(pages))


def run_all(
    args: argparse.Namespace, work: Path, urls: Path, pages_dir: Path
) -> dict[str, list[tuple[float, float]]]:
    archiver = [sys.executable, "-m", "crawler.cli", "crawl", str(urls)]
    commands = {
        "scrapy": [
            sys.executable,
            "-m",
            "scrapy.cmdline",
            "runspider",
            str(work / "plain.py"),
            "-a",
            f"urls={urls}",
            *settings_args({}),
        ],
        "warc": [
            *archiver,
            "-o",
            str(work / "out"),
            *settings_args({"ARCHIVER_TEXT_ENABLED": "False"}),
        ],
        "text": [
            *archiver,
            "-o",
            str(work / "out"),
            *settings_args({"ARCHIVER_EXTRACT_WORKERS": str(args.workers)}),
        ],
        "wget": [
            "wget",
            "-q",
            "-i",
            str(urls),
            "--warc-file",
            str(work / "wget"),
            "-O",
            os.devnull,
            "--no-warc-keep-log",
        ],
        "extract": [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            str(pages_dir),
            str(args.workers),
        ],
    }
    if shutil.which("wget") is None:
        del commands["wget"]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for run in range(args.runs):
        for name, command in commands.items():
            shutil.rmtree(work / "out", ignore_errors=True)
            for leftover in work.glob("wget*"):
                leftover.unlink()
            results[name].append(measure(command, REPO))
            wall, rss = results[name][-1]
            print(f"  run {run + 1} {name:8s} {wall:7.2f} s  {rss:7.0f} MB", flush=True)
    return results


def report(results: dict[str, list[tuple[float, float]]], pages: int) -> None:
    base = statistics.median(wall for wall, _ in results["scrapy"])
    print(
        f"\n{'config':10s} {'median s':>9s} {'pages/s':>8s} {'vs scrapy':>10s} {'peak RSS MB':>12s}"
    )
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        rss = max(r for _, r in runs)
        print(f"{name:10s} {wall:9.2f} {pages / wall:8.1f} {wall / base:9.2f}x {rss:12.0f}")


if __name__ == "__main__":
    main()
