"""Crawl speed and memory: the archiver against plain Scrapy, wget and trafilatura, from nginx.

Serves the wcxb article pages of ../shared/pages, cycled to --pages distinct
URLs (a repeated page ends with a comment naming its copy), from
nginx (the distribution's package, installed if absent) with each page's gzip
beside it (``gzip_static``: the server sends files and compresses nothing) and
``Content-Type: text/html; charset=...`` as each page declares. Before the
crawls it measures what nginx delivers to a bare 16-connection client, and
during each crawl how much CPU nginx used, so that the table shows the crawlers'
cost, not the server's: the benchmark says whether the server outran them.

Contenders, interleaved in each round (the order rotates from round to round):

- ``scrapy``: a plain Scrapy spider that fetches and drops each page (baseline
  of the crawls);
- ``wget``: ``wget --warc-file`` (one connection, one page at a time);
- ``archive``: the archiver without text (``ARCHIVER_TEXT_ENABLED=False``): WARC
  records and index;
- ``extract``: stock trafilatura ``bare_extraction`` over the same pages as
  files, in a pool of --workers processes: the extraction limit (baseline of
  the text crawls);
- ``text``: the archiver with text, --workers extraction processes;
- ``trafilatura``: trafilatura's own command line (``--parallel 4``, no sleep
  between requests).

Every Scrapy contender runs with the same machinery settings (:data:`COMMON`:
16 requests at once to the one host, no delay, no AutoThrottle, no robots.txt);
plain Scrapy runs outside the checkout, whose scrapy.cfg would give it the
archiver's settings, and the benchmark checks that it archived nothing.
The table gives medians over --rounds, each contender's rate as a share of its
baseline's (median of the per-round ratios, and their range), its CPU time (all
its processes, user and system) per 1,000 pages and as a multiple of its
baseline's (on a loaded machine the CPU time moves less than the wall time), the
kernel's peak RSS of its largest process and the sampled peak proportional
memory (PSS) of its whole process tree, and nginx's CPU use during its runs.
Then, in the same run, bench/memory.py's archive-and-text crawls of a generated
site at --memory-sizes URLs (10,000 and 100,000: peak memory with scale). Usage::

    .venv/bin/python bench/crawl.py [--pages 1000] [--rounds 3] [--workers 2]
                                    [--memory-sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._measure import Run, run
from bench._serve import Nginx, ensure_nginx, max_rate

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO.parent / "shared" / "pages"
SET = "wcxb"
PAGE_TYPE = "article"

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
#: Scrapy settings of every Scrapy contender (plain Scrapy and the archiver).
COMMON = {
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "ROBOTSTXT_OBEY": "False",
    "LOG_LEVEL": "WARNING",
    "TELNETCONSOLE_ENABLED": "False",
}
#: trafilatura's command line: no sleep between requests, loopback allowed.
TRAFILATURA_CONFIG = {"SLEEP_TIME": "0", "SSRF_PROTECTION": "off"}
TRAFILATURA_PARALLEL = 4
#: Each contender's baseline: crawls against plain Scrapy, text against extraction alone.
BASELINES = {
    "scrapy": "scrapy",
    "wget": "scrapy",
    "archive": "scrapy",
    "extract": "extract",
    "text": "extract",
    "trafilatura": "extract",
}
LABELS = {
    "scrapy": "plain Scrapy (no archive, no text)",
    "wget": "wget --warc-file (one connection)",
    "archive": "archiver, archive only",
    "extract": "extraction limit: trafilatura, {workers} processes",
    "text": "archiver, archive and text",
    "trafilatura": f"trafilatura CLI --parallel {TRAFILATURA_PARALLEL}",
}
#: nginx must deliver at least this many times the fastest crawler's rate, and be
#: busy at most this share of one core during any crawl, to count as not the bottleneck.
SERVER_HEADROOM = 2.0
SERVER_MAX_BUSY = 0.5
#: gzip level of the .gz of a page's copies (the originals' .gz come with the page set).
COPY_GZIP_LEVEL = 6
_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w:.-]+)""", re.IGNORECASE)


@dataclass
class Page:
    id: str
    gz: Path
    charset: str


def article_pages() -> list[Page]:
    """The wcxb article pages, in id order, with the charset each one declares or decodes as."""
    folder = PAGES / SET
    pages = []
    # JSON lines may hold U+2028 in strings: split at newlines only.
    for line in (folder / "pages.jsonl").read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        row = json.loads(line)
        if (row.get("extra") or {}).get("page_type") != PAGE_TYPE:
            continue
        gz = folder / row["html"]
        pages.append(Page(row["id"], gz, page_charset(gzip.decompress(gz.read_bytes()))))
    return sorted(pages, key=lambda page: page.id)


def page_charset(body: bytes) -> str:
    match = _CHARSET_RE.search(body[:4096])
    if match:
        name = match.group(1).decode("ascii").lower()
        return "utf-8" if name == "utf8" else name
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "windows-1252"
    return "utf-8"


def build_site(root: Path, pages: list[Page], count: int) -> tuple[list[str], dict[str, str]]:
    """``count`` files cycling over ``pages``, each with its .gz beside it.

    A page's second and later copies end with a comment naming the copy, so that
    every URL is a distinct page: no copy is archived as a revisit of another or
    skipped by the text pipeline, as none would be in a crawl of distinct pages.
    """
    paths: list[str] = []
    for i in range(count):
        page = pages[i % len(pages)]
        relative = f"{page.charset}/{i:05d}.html"
        target = root / relative
        target.parent.mkdir(exist_ok=True)
        data = page.gz.read_bytes()
        if i < len(pages):
            target.write_bytes(gzip.decompress(data))
            Path(f"{target}.gz").write_bytes(data)
        else:
            body = gzip.decompress(data) + f"\n<!-- copy {i // len(pages) + 1} -->\n".encode()
            target.write_bytes(body)
            Path(f"{target}.gz").write_bytes(gzip.compress(body, COPY_GZIP_LEVEL, mtime=0))
        paths.append(relative)
    return paths, {page.charset: page.charset for page in pages}


def settings_args(extra: dict[str, str]) -> list[str]:
    args = []
    for name, value in {**COMMON, **extra}.items():
        args += ["-s", f"{name}={value}"]
    return args


def extract_alone(listing: Path, workers: int) -> None:
    """Run in a child process: trafilatura on every listed page, in a pool of ``workers``."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [line.split("\t") for line in listing.read_text(encoding="utf-8").splitlines()]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_extract_file, jobs, chunksize=4))


def _extract_file(job: list[str]) -> int:
    import trafilatura

    path, url = job
    document = trafilatura.bare_extraction(
        Path(path).read_bytes(),
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
    )
    return len(getattr(document, "text", None) or "")


def commands(work: Path, urls: Path, listing: Path, workers: int) -> dict[str, list[str]]:
    archiver = [sys.executable, "-m", "crawler.cli", "crawl", str(urls), "-o", str(work / "out")]
    config = work / "trafilatura.cfg"
    from trafilatura.settings import DEFAULT_CONFIG  # a ConfigParser over settings.cfg

    DEFAULT_CONFIG["DEFAULT"].update(TRAFILATURA_CONFIG)
    with config.open("w", encoding="utf-8") as stream:
        DEFAULT_CONFIG.write(stream)
    plain = work / "plain.py"
    plain.write_text(PLAIN_SPIDER, encoding="utf-8")
    result = {
        "scrapy": [
            *[sys.executable, "-m", "scrapy.cmdline", "runspider", str(plain)],
            *["-a", f"urls={urls}", *settings_args({})],
        ],
        "wget": [
            *["wget", "-q", "-i", str(urls), "-O", os.devnull],
            *["--warc-file", str(work / "out" / "wget"), "--no-warc-keep-log"],
        ],
        "archive": [*archiver, *settings_args({"ARCHIVER_TEXT_ENABLED": "False"})],
        "extract": [sys.executable, str(Path(__file__).resolve()), "--child", str(listing)],
        "text": [*archiver, *settings_args({"ARCHIVER_EXTRACT_WORKERS": str(workers)})],
        "trafilatura": [
            *[str(Path(sys.executable).with_name("trafilatura")), "-i", str(urls)],
            *["-o", str(work / "out"), "--parallel", str(TRAFILATURA_PARALLEL)],
            *["--with-metadata", "--no-comments", "--config-file", str(config)],
        ],
    }
    result["extract"] += ["--workers", str(workers)]
    if shutil.which("wget") is None:
        del result["wget"]
    return result


def plain_env() -> dict[str, str]:
    """The environment for plain Scrapy: no project settings of any kind."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SCRAPY_")}


def run_plain(command: list[str], work: Path) -> Run:
    """Run plain Scrapy in ``work``, outside the project, and check that it stayed plain.

    Run from the checkout, ``scrapy runspider`` would find its scrapy.cfg and load the
    archiver's settings: every component, and the archive written to ./archives.
    """
    result = run(command, cwd=work, env=plain_env())
    if (work / "archives").exists():
        raise SystemExit(f"plain Scrapy archived into {work / 'archives'}: not plain")
    return result


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000, help="URLs to crawl (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every contender")
    parser.add_argument("--workers", type=int, default=2, help="extraction processes")
    parser.add_argument(
        "--only", nargs="+", choices=list(BASELINES), help="run only these contenders"
    )
    parser.add_argument(
        "--memory-sizes",
        type=int,
        nargs="*",
        default=[10000, 100000],
        help="then bench/memory.py's crawls of these many URLs, the first the reference "
        "(default 10000 100000; none to skip)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        extract_alone(Path(args.child), args.workers)
        return
    if args.pages < 1 or args.rounds < 1 or args.workers < 1:
        parser.error("--pages, --rounds and --workers must be at least 1")
    if args.memory_sizes and min(args.memory_sizes) < 1:
        parser.error("--memory-sizes must be at least 1")
    if not (PAGES / SET / "pages.jsonl").exists():
        print(f"skipped: {PAGES / SET} is absent (the shared page sets live beside the checkout)")
        return
    binary = ensure_nginx()
    if binary is None:
        print("skipped: nginx is not installed and could not be installed with apt-get")
        return
    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    try:
        bench(args, work, binary)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.memory_sizes:
        from bench.memory import measure

        print(f"\nMemory with scale (bench/memory.py), archive and text, {args.workers} workers:")
        measure(args.memory_sizes, args.memory_sizes[0], args.workers, binary)


def bench(args: argparse.Namespace, work: Path, binary: str) -> None:
    pages = article_pages()
    site = work / "site"
    site.mkdir()
    paths, charsets = build_site(site, pages, args.pages)
    load_before = load_average()
    with Nginx(site, charsets=charsets, binary=binary) as server:
        urls = work / "urls.txt"
        urls.write_text("".join(f"{server.base}/{path}\n" for path in paths), encoding="utf-8")
        listing = work / "files.tsv"
        listing.write_text(
            "".join(f"{site / path}\t{server.base}/{path}\n" for path in paths), encoding="utf-8"
        )
        size = sum((site / path).stat().st_size for path in paths)
        gz_size = sum(Path(f"{site / path}.gz").stat().st_size for path in paths)
        print(
            f"{len(paths)} URLs over {len(pages)} distinct {SET} {PAGE_TYPE} pages "
            f"({size / 1e6:.0f} MB, {gz_size / 1e6:.0f} MB gzipped), nginx on {server.base}; "
            f"{os.cpu_count()} cores; load average before: {load_before}",
            flush=True,
        )
        server_rate = max_rate([f"{server.base}/{path}" for path in paths])
        print(f"nginx to a bare 16-connection client: {server_rate:.0f} pages/s", flush=True)
        contenders = commands(work, urls, listing, args.workers)
        if args.only:
            contenders = {name: contenders[name] for name in args.only if name in contenders}
        runs, busy = rounds(args.rounds, contenders, work, server)
    report(runs, busy, len(paths), args.workers)
    server_check(runs, busy, server_rate, len(paths))
    print(f"load average before: {load_before}; after: {load_average()}")


def rounds(
    count: int, contenders: dict[str, list[str]], work: Path, server: Nginx
) -> tuple[dict[str, list[Run]], dict[str, list[float]]]:
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    busy: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for number in range(count):
        for name in names[number % len(names) :] + names[: number % len(names)]:
            shutil.rmtree(work / "out", ignore_errors=True)
            (work / "out").mkdir()
            cpu = server.cpu_seconds()
            if name == "scrapy":
                result = run_plain(contenders[name], work)
            else:
                result = run(contenders[name], cwd=REPO, ok=(0, 3))
            busy[name].append((server.cpu_seconds() - cpu) / result.wall)
            runs[name].append(result)
            print(
                f"  round {number + 1} {name:12s} {result.wall:7.2f} s  exit {result.code}  "
                f"{result.peak_mb:5.0f} MB  nginx {busy[name][-1]:4.0%}",
                flush=True,
            )
    return runs, busy


def report(
    runs: dict[str, list[Run]], busy: dict[str, list[float]], pages: int, workers: int
) -> None:
    """Medians; each contender against its baseline by rate and by CPU time, round by round."""
    print(
        "\n| contender | median s | pages/s | rate vs baseline (range) | CPU s per 1,000 pages "
        "| CPU vs baseline | peak MB (largest RSS / tree PSS) | nginx CPU |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for name, results in runs.items():
        wall = statistics.median(result.wall for result in results)
        cpu = statistics.median(result.cpu for result in results)
        baseline = BASELINES[name]
        rate, cost = "-", "-"
        if baseline in runs:
            pairs = list(zip(results, runs[baseline], strict=True))
            ratios = [base.wall / ours.wall for ours, base in pairs]
            rate = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            cost = f"{statistics.median(ours.cpu / base.cpu for ours, base in pairs):.2f}x"
        label = LABELS[name].format(workers=workers) + (" = 1" if name == baseline else "")
        peak = max(result.peak_mb for result in results)
        tree = max(result.tree_mb for result in results)
        print(
            f"| {label} | {wall:.2f} | {pages / wall:.0f} | {rate} | {cpu * 1000 / pages:.1f} "
            f"| {cost} | {peak:.0f} / {tree:.0f} | {max(busy[name]):.0%} |"
        )


def server_check(
    runs: dict[str, list[Run]], busy: dict[str, list[float]], server_rate: float, pages: int
) -> None:
    crawls = {name: results for name, results in runs.items() if name != "extract"}
    if not crawls:
        return
    fastest = max(pages / statistics.median(r.wall for r in results) for results in crawls.values())
    busiest = max(max(values) for values in busy.values())
    verdict = (
        "the server is not the bottleneck"
        if server_rate >= SERVER_HEADROOM * fastest and busiest <= SERVER_MAX_BUSY
        else "WARNING: the server may be the bottleneck"
    )
    print(
        f"\nserver check: nginx delivers {server_rate:.0f} pages/s to a bare client, "
        f"{server_rate / fastest:.1f}x the fastest crawler ({fastest:.0f} pages/s); nginx used "
        f"at most {busiest:.0%} of one core during any run: {verdict}"
    )


if __name__ == "__main__":
    main()
