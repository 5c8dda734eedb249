"""Memory with scale: peak RSS of archive-and-text crawls of 1,000 to 100,000 URLs.

nginx (see bench/_serve.py) serves a generated site: every URL ``/p/N`` answers
a small article page (:data:`PAGE`, about 1.4 kB, utf-8) that names its own
path, so every page is distinct (no revisit records, no duplicate text) and the
server builds it in memory with no file and no compression. The page is small
so that extraction is cheap and the crawl's own bookkeeping (frontier, index,
ledger, stats) is what grows, if anything does; real pages would only make
each crawl slower, not its bookkeeping larger.

Each size is crawled once with the archiver, text on, and the same Scrapy
settings as bench/crawl.py (16 at once, no delay). The table gives, per size,
the kernel's peak RSS (VmHWM) of the crawl process, the sampled peak
proportional memory (PSS: shared pages split among the processes sharing
them) of the largest other process (an extraction worker or their server) and
of the whole process tree, and each crawl process peak as a multiple of the
one at --reference URLs; the crawl
process's RSS at each quarter of the run shows the trend. Usage::

    .venv/bin/python bench/memory.py [--sizes 1000 10000 100000] [--reference 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._measure import Run, run
from bench._serve import Nginx, ensure_nginx, max_rate
from bench.crawl import COMMON, load_average

REPO = Path(__file__).resolve().parents[1]
#: What a 100,000-URL crawl may hold at its peak, as a multiple of a 10,000-URL crawl's,
#: and at most, in MB (the crawl process).
MAX_GROWTH = 1.5
MAX_PEAK_MB = 500
#: The generated page; nginx puts the request's path in place of $uri.
PAGE = (
    "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
    "<title>Report $uri</title><meta name=author content='Jane Doe'>"
    "<meta property=article:published_time content=2026-11-01></head><body>"
    "<header><nav><a href=/>Home</a> <a href=/news>News</a></nav></header>"
    "<main><article><h1>Report $uri</h1>"
    "<p>The city council met on Tuesday to discuss report $uri, which covers the repair "
    "of the old bridge over the river and the new timetable of the buses that cross it.</p>"
    "<p>Members asked how long the works would take and what the detour would cost the "
    "shops on the east bank; the engineers answered that the bridge would reopen in spring "
    "and that the buses would run every ten minutes until then.</p>"
    "<p>The next meeting, on the budget for the coming year, is open to the public and "
    "will be held in the town hall; questions may be sent in writing beforehand.</p>"
    "</article></main><footer>Copyright 2026 The Town Paper</footer></body></html>"
)
LOCATION = (
    "        location /p/ {{ default_type text/html; charset utf-8; "
    "charset_types text/html; return 200 '{page}'; }}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--reference", type=int, default=10000, help="size the others divide by")
    parser.add_argument("--workers", type=int, default=2, help="extraction processes")
    args = parser.parse_args()
    if min(args.sizes) < 1:
        parser.error("--sizes must be at least 1")
    binary = ensure_nginx()
    if binary is None:
        print("skipped: nginx is not installed and could not be installed with apt-get")
        return
    measure(args.sizes, args.reference, args.workers, binary)


def measure(sizes: list[int], reference: int, workers: int, binary: str) -> None:
    """Crawl the generated site at each size and print the table (bench/crawl.py runs it too)."""
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        (work / "site").mkdir()
        location = LOCATION.format(page=PAGE.replace("'", '"'))
        load_before = load_average()
        with Nginx(work / "site", locations=location, binary=binary) as server:
            rate = max_rate([f"{server.base}/p/{n}" for n in range(2000)])
            print(
                f"nginx on {server.base}: {rate:.0f} pages/s to a bare 16-connection client; "
                f"{os.cpu_count()} cores; load average before: {load_before}",
                flush=True,
            )
            results = {size: crawl(work, server, size, workers) for size in sizes}
        report(results, reference)
        print(f"load average before: {load_before}; after: {load_average()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def crawl(work: Path, server: Nginx, size: int, workers: int) -> tuple[Run, float]:
    """One archive-and-text crawl of ``size`` URLs; the run and nginx's share of one core."""
    urls = work / f"urls-{size}.txt"
    urls.write_text("".join(f"{server.base}/p/{n}\n" for n in range(size)), encoding="utf-8")
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "crawler.cli", "crawl", str(urls), "-o", str(out)]
    settings = {**COMMON, "ARCHIVER_EXTRACT_WORKERS": str(workers)}
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    cpu = server.cpu_seconds()
    result = run(command, cwd=REPO, ok=(0, 3))
    busy = (server.cpu_seconds() - cpu) / result.wall
    texts = sum(1 for _ in (out / "text").rglob("*.txt")) if (out / "text").exists() else 0
    print(
        f"  {size:7d} URLs {result.wall:8.1f} s  exit {result.code}  crawl process "
        f"{result.main_mb:.0f} MB  texts {texts}  nginx {busy:.0%}  "
        f"RSS by quarter: {quarters(result)}",
        flush=True,
    )
    urls.unlink()
    return result, busy


def quarters(result: Run) -> str:
    """The crawl process's RSS at 25, 50, 75 and 100 % of the run, in MB."""
    if not result.trace:
        return "-"
    last = len(result.trace) - 1
    picks = [result.trace[min(last, len(result.trace) * q // 4)] for q in (1, 2, 3)]
    picks.append(result.trace[-1])
    return " / ".join(f"{rss:.0f}" for _, rss in picks)


def report(results: dict[int, tuple[Run, float]], reference: int) -> None:
    base = results[reference][0].main_mb if reference in results else None
    print(
        "\n| URLs | wall s | pages/s | crawl process peak MB | vs "
        f"{reference:,} | largest other process PSS MB | tree PSS MB | nginx CPU |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for size, (result, busy) in results.items():
        ratio = f"{result.main_mb / base:.2f}x" if base else "-"
        print(
            f"| {size:,} | {result.wall:.0f} | {size / result.wall:.0f} | {result.main_mb:.0f} | "
            f"{ratio} | {result.others_mb:.0f} | {result.tree_mb:.0f} | {busy:.0%} |"
        )
    largest = max(results)
    if base and largest > reference:
        peak = results[largest][0].main_mb
        verdict = peak <= MAX_GROWTH * base and peak < MAX_PEAK_MB
        print(
            f"\n{largest:,} URLs: {peak:.0f} MB, {peak / base:.2f}x the {reference:,}-URL crawl "
            f"(limit {MAX_GROWTH}x and {MAX_PEAK_MB} MB): {'within' if verdict else 'OVER'}"
        )


if __name__ == "__main__":
    main()
