"""Offline extraction speed: ``archiver extract`` of a WARC archive against the extraction limit.

Builds an archive of --pages archived pages (the wcxb article pages of
../shared/pages, cycled when there are fewer) with the project's own WARC
writer and index, with no network: one exchange a page, a plausible HTTP head,
every third body gzip-encoded as a server would send it. Then, side by side in
one run, alternating, --runs rounds:

- ``limit``: stock trafilatura ``bare_extraction`` (the options ``extract_page``
  uses) in a process pool of --workers processes over the same pages read from
  plain files: the work that cannot be avoided;
- ``extract``: ``archiver extract DIR -o OUT`` as a subprocess (the command's
  whole code path: start-up, index, WARC reading, decoding, conversion,
  writing the text files).

Both are timed as subprocesses, start-up included, and the table gives medians,
pages/s, the ratio extract/limit in pages/s (target: at least 0.90) and the peak
RSS of the largest process. Usage::

    python bench/extract.py [--pages 1000] [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

if not __package__:  # run as python bench/extract.py: import from the checkout
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench._measure import run

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO.parent / "shared" / "pages" / "wcxb"
WORKERS = "ARCHIVER_EXTRACT_WORKERS"
CAPTURED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def load_articles(count: int) -> list[tuple[str, bytes]]:
    """(url, raw bytes) of ``count`` wcxb article pages, cycled, each URL made unique."""
    articles = []
    # Split on "\n" only: splitlines() would also cut at U+2028 inside the texts.
    for line in (PAGES / "pages.jsonl").read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        page = json.loads(line)
        if (page.get("extra") or {}).get("page_type") == "article" and page.get("url"):
            articles.append((page["url"], gzip.decompress((PAGES / page["html"]).read_bytes())))
    pages = []
    for i in range(count):
        url, body = articles[i % len(articles)]
        if i >= len(articles):
            url += ("&" if "?" in url else "?") + f"copy={i // len(articles)}"
        pages.append((url, body))
    return pages


def build_archive(pages: list[tuple[str, bytes]], root: Path) -> None:
    """An archive folder as a crawl leaves it: WARC files, index with seeds and text paths."""
    from crawler.archive import Archive
    from crawler.index import Index, SeedRow
    from crawler.layout import Layout
    from crawler.outcomes import InputOutcome
    from crawler.text.document import file_name
    from crawler.warc.exchange import Exchange
    from crawler.warc.writer import WarcFileWriter

    layout = Layout(root)
    index = Index(layout.index)
    crawl_id = index.start_crawl(
        started_at=CAPTURED.isoformat(), spider="bench", input="bench", settings={}
    )
    writer = WarcFileWriter(layout.warc_dir, info={"software": "bench/extract.py"})
    archive = Archive(writer, index, crawl_id)
    for position, (url, body) in enumerate(pages):
        headers = [(b"Content-Type", b"text/html; charset=utf-8"), (b"Server", b"nginx")]
        if position % 3 == 0:
            body = gzip.compress(body, mtime=0)  # noqa: PLW2901 (sent as the server would)
            headers += [(b"Content-Encoding", b"gzip"), (b"Vary", b"Accept-Encoding")]
        headers.append((b"Content-Length", str(len(body)).encode()))
        exchange = Exchange(
            url=url,
            method="GET",
            request_headers=[(b"User-Agent", b"archiver"), (b"Accept-Encoding", b"gzip")],
            request_body=b"",
            protocol="HTTP/1.1",
            status=200,
            reason=b"OK",
            response_headers=headers,
            body=body,
            started=CAPTURED + timedelta(seconds=position),
        )
        capture = archive.add_exchange(exchange)
        name = file_name(position, url)
        index.add_seed(
            crawl_id,
            SeedRow(
                url=url,
                source="bench",
                line=position + 1,
                position=position,
                outcome=InputOutcome.ARCHIVED,
                capture_id=capture.capture_id,
                final_url=url,
                text_path=layout.text_relative(name),
            ),
        )
    archive.close()
    index.close()


def limit_child(pages_dir: Path, workers: int) -> None:
    """Run in a child process: stock bare_extraction on every page, in a pool of ``workers``."""
    from concurrent.futures import ProcessPoolExecutor

    files = sorted(pages_dir.iterdir())
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_bare, files, chunksize=4))


def _bare(path: Path) -> int:
    import logging

    from trafilatura import bare_extraction

    logging.disable(logging.CRITICAL)
    document = bare_extraction(
        path.read_bytes(),
        url=None,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        date_extraction_params={
            "original_date": True,
            "extensive_search": True,
            "max_date": CAPTURED.date().isoformat(),
        },
    )
    return len(getattr(document, "text", None) or "")


def measure(command: list[str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (all processes) and peak RSS (MB) of the largest process."""
    result = run(command, cwd=cwd)
    return result.wall, result.cpu, result.peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        limit_child(Path(args.child[0]), int(args.child[1]))
        return
    if not PAGES.exists():
        print(f"skipped: {PAGES} is absent (the shared page sets live beside the checkout)")
        return
    pages = load_articles(args.pages)
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        archive = work / "archive"
        build_archive(pages, archive)
        pages_dir = work / "pages"
        pages_dir.mkdir()
        for i, (_, body) in enumerate(pages):
            (pages_dir / f"{i:05d}.html").write_bytes(body)
        warc_bytes = sum(p.stat().st_size for p in (archive / "warc").iterdir())
        print(
            f"{len(pages)} wcxb article pages, {sum(len(b) for _, b in pages) / 1e6:.1f} MB "
            f"({warc_bytes / 1e6:.1f} MB of WARC), {args.workers} workers, {args.runs} rounds; "
            f"{os.cpu_count()} cores"
        )
        limit = [sys.executable, str(Path(__file__).resolve()), "--child", str(pages_dir)]
        extract = [sys.executable, "-m", "crawler.cli", "extract", str(archive)]
        commands = {
            "limit": [*limit, str(args.workers)],
            "extract": [*extract, "-o", str(work / "out"), "-s", f"{WORKERS}={args.workers}"],
        }
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        for run in range(args.runs):
            for name, command in commands.items():
                shutil.rmtree(work / "out", ignore_errors=True)
                results[name].append(measure(command, REPO))
                wall, cpu, rss = results[name][-1]
                print(
                    f"  round {run + 1} {name:8s} {wall:7.2f} s  {cpu:7.2f} s CPU  {rss:5.0f} MB",
                    flush=True,
                )
        written = len(list((work / "out" / "text").glob("*.txt")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, len(pages), written)


def report(results: dict[str, list[tuple[float, float, float]]], pages: int, written: int) -> None:
    base = statistics.median(wall for wall, _, _ in results["limit"])
    base_cpu = statistics.median(cpu for _, cpu, _ in results["limit"])
    header = f"{'config':10s} {'median s':>9s} {'pages/s':>8s} {'vs limit':>9s}"
    print(f"\n{header} {'CPU s':>7s} {'CPU vs limit':>13s} {'peak RSS MB':>12s}")
    for name, runs in results.items():
        wall = statistics.median(w for w, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        rss = max(r for _, _, r in runs)
        print(
            f"{name:10s} {wall:9.2f} {pages / wall:8.1f} {base / wall:8.2f}x "
            f"{cpu:7.1f} {cpu / base_cpu:12.2f}x {rss:12.0f}"
        )
    # The machine is shared and noisy: each round's pair, run back to back, says more
    # than medians taken apart.
    pairs = [lim[0] / ext[0] for lim, ext in zip(results["limit"], results["extract"], strict=True)]
    ratio = base / statistics.median(wall for wall, _, _ in results["extract"])
    verdict = "meets" if ratio >= 0.90 else "misses"
    print(
        f"\nextract wrote {written} text files; speed ratio {ratio:.2f} ({verdict} 0.90); "
        f"per round: {', '.join(f'{p:.2f}' for p in pairs)}"
    )


if __name__ == "__main__":
    main()
