"""Where a crawl's CPU goes: py-spy profiles of the archiver (archive only) and of plain Scrapy.

Serves the same nginx site as bench/crawl.py (--pages URLs cycling over the
wcxb articles), crawls it twice with each contender, alone (for its CPU time) and under
``py-spy record``
(sampling every thread that is on the CPU, --rate times a second) and prints,
for each: its CPU time per page (from the kernel), the functions with the most
samples of their own (self time), and the share of samples spent inside each
:data:`CATEGORIES` entry (inclusive: a sample counts for every category one of
its frames belongs to, so the shares overlap). The last table turns the shares
into milliseconds per page for both contenders side by side: the archiver's
extra cost, line by line. Needs ``py-spy`` (``.venv/bin/pip install py-spy``).
Usage::

    .venv/bin/python bench/profile_crawl.py [--pages 2000] [--rate 200] [--top 25] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._measure import run
from bench._serve import Nginx, ensure_nginx
from bench.crawl import (
    COMMON,
    PAGES,
    PLAIN_SPIDER,
    SET,
    article_pages,
    build_site,
    plain_env,
)

REPO = Path(__file__).resolve().parents[1]
#: (label, substrings of a frame, any of which puts a sample in the category).
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("WARC writing (records, gzip members, file writes)", ("crawler/warc/", "warcio/")),
    ("  of which gzip members (zlib compress)", ("_GzipMember",)),
    ("digests (hashlib)", ("hashlib", "digest (", "_digest")),
    ("index writes (sqlite3)", ("sqlite3", "crawler/index.py")),
    ("archive extension and guard", ("crawler/extensions/archive.py", "guard.py")),
    ("other archiver components", ("crawler/",)),
    ("HTTP/1.1 handler (Scrapy's and ours)", ("http11.py",)),
    ("decompression (gzip bodies for the spider)", ("decompression.py", "httpcompression")),
    ("  of which gzip reading", ("gzip.py",)),
    ("Scrapy engine, scraper, middlewares", ("scrapy/core/", "scrapy/middleware")),
    ("Twisted and asyncio (reactor, transports)", ("twisted/", "asyncio/")),
    ("logging and stats", ("logging/", "statscollectors")),
    ("start-up: imports", ("<frozen importlib",)),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000, help="URLs to crawl (default 2000)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25, help="functions listed by self time")
    parser.add_argument("--keep", type=Path, help="folder to keep py-spy's raw stacks in")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("skipped: py-spy is not installed (.venv/bin/pip install py-spy)")
        return
    binary = ensure_nginx()
    if not (PAGES / SET / "pages.jsonl").exists() or binary is None:
        print(f"skipped: {PAGES / SET} is absent or nginx could not be installed")
        return
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    try:
        (work / "site").mkdir()
        paths, charsets = build_site(work / "site", article_pages(), args.pages)
        with Nginx(work / "site", charsets=charsets, binary=binary) as server:
            urls = work / "urls.txt"
            urls.write_text("".join(f"{server.base}/{p}\n" for p in paths), encoding="utf-8")
            (work / "plain.py").write_text(PLAIN_SPIDER, encoding="utf-8")
            settings = [arg for name, value in COMMON.items() for arg in ("-s", f"{name}={value}")]
            contenders = {
                "archive": [
                    *[sys.executable, "-m", "crawler.cli", "crawl", str(urls)],
                    *["-o", str(work / "out"), "-s", "ARCHIVER_TEXT_ENABLED=False", *settings],
                ],
                "scrapy": [
                    *[sys.executable, "-m", "scrapy.cmdline", "runspider"],
                    *[str(work / "plain.py"), "-a", f"urls={urls}", *settings],
                ],
            }
            profiles = {}
            for name, command in contenders.items():
                # Plain Scrapy outside the checkout: its scrapy.cfg would load our settings.
                cwd, env = (work, plain_env()) if name == "scrapy" else (REPO, None)
                # Once alone for its CPU time (py-spy's own would count under it), once spied.
                shutil.rmtree(work / "out", ignore_errors=True)
                cpu = run(command, cwd=cwd, env=env, ok=(0, 3)).cpu
                shutil.rmtree(work / "out", ignore_errors=True)
                raw = work / f"{name}.txt"
                spied = [spy, "record", "--nonblocking", "-r", str(args.rate), "-f", "raw"]
                run([*spied, "-o", str(raw), "--", *command], cwd=cwd, env=env, ok=(0, 3))
                stacks = read_stacks(raw)
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy(raw, args.keep / raw.name)
                profiles[name] = (stacks, cpu * 1000 / len(paths))
                show(name, stacks, cpu, len(paths), args.top)
        compare(profiles)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw (collapsed) output: each stack, root first, and its samples."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def shares(stacks: Counter[tuple[str, ...]]) -> dict[str, float]:
    total = sum(stacks.values()) or 1
    result = {}
    for label, needles in CATEGORIES:
        hits = sum(
            count
            for stack, count in stacks.items()
            if any(needle in frame for frame in stack for needle in needles)
        )
        result[label] = hits / total
    return result


def show(name: str, stacks: Counter[tuple[str, ...]], cpu: float, pages: int, top: int) -> None:
    total = sum(stacks.values()) or 1
    print(
        f"\n## {name}: {total} samples, CPU {cpu:.1f} s for {pages} pages "
        f"({cpu * 1000 / pages:.2f} ms a page)\n\n| self % | function |\n|---|---|"
    )
    own: Counter[str] = Counter()
    for stack, count in stacks.items():
        own[stack[-1]] += count
    for frame, count in own.most_common(top):
        print(f"| {count / total:.1%} | `{frame}` |")
    print("\n| inclusive % | category |\n|---|---|")
    for label, share in shares(stacks).items():
        print(f"| {share:.1%} | {label} |")


def compare(profiles: dict[str, tuple[Counter[tuple[str, ...]], float]]) -> None:
    if set(profiles) != {"archive", "scrapy"}:
        return
    ours, theirs = (shares(profiles[name][0]) for name in ("archive", "scrapy"))
    ours_ms, theirs_ms = profiles["archive"][1], profiles["scrapy"][1]
    print(
        f"\n| category | archiver ms/page | plain Scrapy ms/page | extra |\n|---|---|---|---|\n"
        f"| all (kernel CPU time) | {ours_ms:.2f} | {theirs_ms:.2f} | {ours_ms - theirs_ms:+.2f} |"
    )
    for label, _ in CATEGORIES:
        a, b = ours[label] * ours_ms, theirs[label] * theirs_ms
        print(f"| {label} | {a:.2f} | {b:.2f} | {a - b:+.2f} |")


if __name__ == "__main__":
    main()
