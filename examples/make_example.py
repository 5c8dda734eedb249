"""Make ``examples/example.warc.gz``: three short articles, served here and crawled by the archiver.

    .venv/bin/python examples/make_example.py                  # rewrites examples/example.warc.gz
    .venv/bin/python examples/make_example.py -o new.warc.gz --port 8766

The articles below were written for this example (the town, the people and the events are
made up). They are served on 127.0.0.1 (``EXAMPLE_PORT``, so that the URLs in the file, and
the text file names made from them, stay the same from one run to the next) for the length of
one ``archiver crawl`` into a temporary folder. The crawl's single WARC file is checked with
``archiver verify`` and copied out. Nothing but 127.0.0.1 is contacted. Run it with the Python
of the virtual environment the archiver is installed in.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "example.warc.gz"
#: The port of the example site: part of every URL in the file.
EXAMPLE_PORT = 27180
#: The example ships in the repository: a file larger than this is refused.
MAX_SIZE = 100_000
#: Seconds the crawl may take (three pages and a robots.txt).
CRAWL_TIMEOUT = 120
#: Lines of the crawl's log shown when it fails.
LOG_TAIL = 60
SITE_NAME = "The Millbrook Courier"
ROBOTS = b"User-agent: *\nAllow: /\n"


@dataclass(frozen=True)
class Article:
    path: str
    title: str
    published: str  #: ISO date
    paragraphs: tuple[str, ...]


ARTICLES = (
    Article(
        "/news/library-evening-hours",
        "Millbrook library stays open until nine on weekdays",
        "2026-03-04",
        (
            "From the first Monday of April, the Millbrook public library will keep its doors "
            "open until nine in the evening from Monday to Friday, two hours later than now.",
            "The change follows a survey of four hundred readers, most of whom said they could "
            "only visit after work. Students asked for quiet desks in the evening as well.",
            "The longer hours are paid for by closing the reading room on Sunday mornings, "
            "when fewer than a dozen people came in on an average week last year.",
            "Head librarian Ada Fenwick said the staff would try the new hours for six months "
            "and count visitors every evening before deciding whether to keep them.",
        ),
    ),
    Article(
        "/news/winter-bird-count",
        "Volunteers count the river birds for a tenth winter",
        "2026-01-19",
        (
            "Forty-two volunteers walked the banks of the Mill River on Saturday morning for "
            "the town's tenth winter bird count, from the old weir down to the ferry steps.",
            "They recorded one thousand and sixty birds of thirty-one kinds. Mallards were the "
            "most common, as every year, while a pair of kingfishers was seen for the first time.",
            "The organisers compare each count with the ones before it. Herons have become more "
            "frequent since the reed beds below the weir were left to grow back.",
            "The results go to the county's wildlife office, and a map of the sightings will "
            "hang in the library hall until the end of February.",
        ),
    ),
    Article(
        "/news/sourdough-starter",
        "A bakery's sourdough starter turns twenty",
        "2025-11-08",
        (
            "The sourdough starter at Greaves Bakery on Market Lane is twenty years old this "
            "month, and the bakers still feed it with flour and water twice a day.",
            "Tom Greaves began it in a glass jar in his kitchen before the shop opened. It now "
            "lives in a stone crock behind the ovens and raises about two hundred loaves a day.",
            "Customers may take a spoonful home in a jar of their own on Saturdays. The bakery "
            "thinks several hundred kitchens in the valley now keep a descendant of it.",
            "To mark the birthday, the shop will sell a rye loaf baked to its first recipe for "
            "the rest of November.",
        ),
    ),
)


def page(article: Article) -> bytes:
    """The article as a news site would serve it: header, navigation and footer around it."""
    paragraphs = "".join(f"<p>{text}</p>" for text in article.paragraphs)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{article.title} | {SITE_NAME}</title>"
        f"<meta property='og:site_name' content='{SITE_NAME}'>"
        f"<meta property='article:published_time' content='{article.published}T08:00:00Z'>"
        "</head><body>"
        f"<header><a href='/'>{SITE_NAME}</a><nav><a href='/news/'>News</a> "
        "<a href='/events/'>Events</a> <a href='/about/'>About us</a></nav></header>"
        f"<main><article><h1>{article.title}</h1>{paragraphs}</article></main>"
        "<footer><p>Subscribe to the weekly newsletter.</p>"
        "<p>Written for the archiver's example; the town and its people are made up.</p>"
        "</footer></body></html>"
    ).encode()


ROUTES: dict[str, tuple[str, bytes]] = {
    "/robots.txt": ("text/plain", ROBOTS),
    **{a.path: ("text/html; charset=utf-8", page(a)) for a in ARTICLES},
}


class Handler(BaseHTTPRequestHandler):
    """Serves ROUTES, and 404 for anything else."""

    server_version = "example-site/1.0"
    sys_version = ""

    def do_GET(self) -> None:
        content_type, body = ROUTES.get(self.path, ("text/plain", b"not found\n"))
        self.send_response(200 if self.path in ROUTES else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def archiver(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``archiver`` command, with no archive folder or proxy of the caller's."""
    drop = {"ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE", "http_proxy", "https_proxy"}
    env = {k: v for k, v in os.environ.items() if k.lower() not in {d.lower() for d in drop}}
    return subprocess.run(
        [sys.executable, "-m", "crawler.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=CRAWL_TIMEOUT,
        check=False,
    )


def make(output: Path, port: int) -> Path:
    """Serve the articles on 127.0.0.1:``port``, crawl them, copy the WARC file to ``output``."""
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    except OSError as exc:
        raise SystemExit(f"error: cannot serve on 127.0.0.1:{port} ({exc}): try --port") from exc
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory(prefix="archiver-example-") as tmp:
            folder = Path(tmp)
            urls = folder / "urls.txt"
            urls.write_text(
                "".join(f"http://127.0.0.1:{port}{a.path}\n" for a in ARTICLES), encoding="utf-8"
            )
            # One request and one extraction at a time, no delay: a small, quick crawl. The
            # pages may still be fetched in any order once robots.txt is in.
            crawl = archiver(
                "crawl", str(urls), "-o", str(folder / "archive"),
                "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False",
                "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1", "-s", "RETRY_ENABLED=False",
                "-s", "ARCHIVER_EXTRACT_WORKERS=1",
                "-s", "ARCHIVER_COLLECTION=archiver example",
            )  # fmt: skip
            if crawl.returncode != 0:
                log = "\n".join(crawl.stderr.splitlines()[-LOG_TAIL:])
                raise SystemExit(f"error: the crawl failed ({crawl.returncode}):\n{log}")
            warcs = sorted((folder / "archive" / "warc").glob("*.warc.gz"))
            if len(warcs) != 1:
                raise SystemExit(f"error: expected one WARC file, the crawl wrote {warcs}")
            size = warcs[0].stat().st_size
            if size > MAX_SIZE:
                raise SystemExit(f"error: the WARC file is {size} bytes, over {MAX_SIZE}")
            verify = archiver("verify", str(warcs[0]))
            if verify.returncode != 0:
                raise SystemExit(f"error: archiver verify failed:\n{verify.stdout}")
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(warcs[0], output)
    finally:
        server.shutdown()
        server.server_close()
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help="the WARC file to write")
    parser.add_argument("--port", type=int, default=EXAMPLE_PORT, help="the example site's port")
    args = parser.parse_args(argv)
    path = make(args.output, args.port)
    print(f"{path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
