"""Page requisites: the stylesheets, scripts, icons and images a page needs, archived once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from parsel import Selector
from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.spidermiddlewares.requisites import Kind, find_requisites, srcset_urls
from tests.conftest import FAST, archiver, index_rows, run_crawl, write_urls
from tests.server import Handler, LocalSite, response
from tests.warc_reading import read_archive

#: What page A of a test site needs, by path under the site's prefix ({other}: another host).
PAGE_A = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Requisites A</title>
<link rel="stylesheet" href="style.css">
<link rel="stylesheet" href="{p}/shared.css">
<link rel="shortcut icon" href="{p}/favicon.ico">
<link rel="alternate" type="application/rss+xml" href="{p}/feed.xml">
<script src="{p}/app.js"></script>
<script src="{other}{p}/cdn.js"></script>
</head><body><h1>Requisites A</h1>
<p>An article that needs its stylesheets, scripts and images to look as it did.</p>
<img src="{p}/img.png" srcset="{p}/img-1x.png 1x, {p}/img,2x.png 2x">
<picture><source srcset="{p}/pic.webp" type="image/webp"><img src="{p}/pic.jpg"></picture>
<video poster="{p}/poster.jpg"><source src="{p}/movie.mp4"></video>
<img src="/private{p}-secret.png">
<img src="{p}/missing.png">
<img src="{p}/img.png#again">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<div style="background: url({p}/inline.png)">styled</div>
<a href="{p}/link.html">a link, not a requisite</a>
</body></html>"""
PAGE_B = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Requisites B</title>
<link rel="stylesheet" href="{p}/shared.css"></head><body><h1>Requisites B</h1>
<p>Another article of the same site, with the same stylesheet.</p><img src="{p}/b.png">
</body></html>"""
#: Referenced only from the stylesheet: one level only, never fetched.
STYLE = b"@import url(imported.css); body { background: url(bg.png) }"
FETCHED_A = {
    "style.css",
    "shared.css",
    "favicon.ico",
    "app.js",
    "cdn.js",
    "img.png",
    "img-1x.png",
    "img,2x.png",
    "pic.webp",
    "pic.jpg",
    "poster.jpg",
    "missing.png",
}
NEVER = {"feed.xml", "movie.mp4", "inline.png", "link.html", "imported.css", "bg.png"}
TYPES = {"css": "text/css", "js": "text/javascript", "html": "text/html; charset=utf-8"}


def serve(site: LocalSite, prefix: str) -> tuple[str, str]:
    """Pages A and B and their requisites under ``prefix``; their URLs."""
    other = site.base.replace("127.0.0.1", "localhost")
    pages = {
        "page-a": PAGE_A.format(p=prefix, other=other).encode(),
        "page-b": PAGE_B.format(p=prefix).encode(),
    }

    def route(handler: Handler) -> bytes:
        name = handler.path.rsplit("/", 1)[-1]
        if name == "missing.png":
            return response("404 Not Found", [("Content-Type", "text/plain")], b"gone\n")
        body = pages.get(name) or (STYLE if name.endswith(".css") else b"asset " + name.encode())
        kind = TYPES.get(name.rsplit(".", 1)[-1], "image/png")
        return response("200 OK", [("Content-Type", "text/html" if name in pages else kind)], body)

    site.add(f"{prefix}/*", route)
    return site.url(f"{prefix}/page-a"), site.url(f"{prefix}/page-b")


def requested(site: LocalSite, prefix: str) -> Counter[str]:
    """How often the server was asked for each name under ``prefix``."""
    return Counter(path.rsplit("/", 1)[-1] for path, _ in site.requests if prefix in path)


def requisite_stats(crawler: Crawler) -> dict[str, int]:
    assert crawler.stats is not None
    stats = crawler.stats.get_stats()
    prefix = "archiver/requisites/"
    return {key.removeprefix(prefix): value for key, value in stats.items() if prefix in key}


@deferred_f_from_coro_f
async def test_requisites_are_archived_once_by_the_page_rules(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    prefix = "/req-all"
    page_a, page_b = serve(site, prefix)
    crawler = await run_crawl(
        archive_dir, write_urls(tmp_path / "urls.txt", page_a, page_b), ARCHIVER_REQUISITES=True
    )
    asked = requested(site, prefix)
    assert set(asked) == FETCHED_A | {"page-a", "page-b", "b.png"}
    assert set(asked.values()) == {1}, "the shared stylesheet and img.png are fetched once"
    assert not any(path.startswith("/private") for path, _ in site.requests), "robots.txt"
    headers = {path.rsplit("/", 1)[-1]: h for path, h in site.requests if path.startswith(prefix)}
    assert headers["style.css"]["accept"] == ["text/css,*/*;q=0.1"]
    assert headers["app.js"]["referer"] == [page_a]

    responses = Counter(r.url for r in read_archive(archive_dir) if r.type == "response")
    other = site.base.replace("127.0.0.1", "localhost")
    assert responses[f"{other}{prefix}/cdn.js"] == 1
    assert responses[f"{other}/robots.txt"] == 1
    for name in FETCHED_A | {"b.png"}:
        url = site.url(f"{prefix}/{name}") if name != "cdn.js" else f"{other}{prefix}/{name}"
        assert responses[url] == 1, name

    # Pages only: one seed row and one text file each; requisites have captures, no text.
    seeds = index_rows(archive_dir, "SELECT url, outcome FROM seeds ORDER BY position")
    assert [(r["url"], r["outcome"]) for r in seeds] == [(page_a, "archived"), (page_b, "archived")]
    assert len(list((archive_dir / "text").iterdir())) == 2
    texts = index_rows(archive_dir, "SELECT url, text_outcome FROM captures")
    assert {r["url"] for r in texts if r["text_outcome"] is not None} == {page_a, page_b}

    assert requisite_stats(crawler) == {
        "requested": 15,  # 13 on page A, 2 on page B
        "duplicate": 1,  # shared.css, on the second page
        "archived": 12,
        "failed": 2,  # missing.png (404) and the one robots.txt forbids
        "forbidden": 1,
    }
    assert crawler.stats.get_value("finish_reason") == "finished"


@deferred_f_from_coro_f
async def test_without_the_option_no_requisite_is_requested(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    prefix = "/req-off"
    page_a, page_b = serve(site, prefix)
    crawler = await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", page_a, page_b))
    assert requested(site, prefix) == Counter({"page-a": 1, "page-b": 1})
    assert requisite_stats(crawler) == {}


@deferred_f_from_coro_f
async def test_same_host_only_and_the_cap_keep_stylesheets_and_scripts_first(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    prefix = "/req-cap"
    page_a, _ = serve(site, prefix)
    crawler = await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", page_a),
        ARCHIVER_REQUISITES=True,
        ARCHIVER_REQUISITES_HOSTS="same",
        ARCHIVER_REQUISITES_MAX=4,
    )
    fetched = {"page-a", "style.css", "shared.css", "app.js", "favicon.ico"}
    assert set(requested(site, prefix)) == fetched
    assert requisite_stats(crawler) == {
        "requested": 4,
        "archived": 4,
        "other_host": 1,  # cdn.js, a script, examined before the icon
        "capped": 8,  # the images, never resolved
    }


def test_the_command_line_option(site: LocalSite, tmp_path: Path) -> None:
    prefix = "/req-cli"
    page_a, _ = serve(site, prefix)
    urls = write_urls(tmp_path / "urls.txt", page_a)
    out = tmp_path / "out"
    result = archiver("crawl", str(urls), "-o", str(out), "--requisites", *FAST)
    assert result.returncode == 0, result.stderr
    responses = {r.url for r in read_archive(out) if r.type == "response"}
    assert {site.url(f"{prefix}/style.css"), site.url(f"{prefix}/poster.jpg")} <= responses
    stats = index_rows(out, "SELECT stats FROM crawls")[0]["stats"]
    assert '"archiver/requisites/archived": 11' in stats

    bad = archiver("crawl", str(urls), "-o", str(out), "-s", "ARCHIVER_REQUISITES_HOSTS=cdn")
    assert bad.returncode == 2
    assert "ARCHIVER_REQUISITES_HOSTS must be all or same, not 'cdn'" in bad.stderr


def test_what_a_page_needs_most_comes_first() -> None:
    html = """<html><head><base href="https://cdn.example/assets/">
    <link rel="preload" as="font" href="font.woff2" crossorigin>
    <link rel="preload" as="fetch" href="data.json">
    <link rel="modulepreload" href="mod.js">
    <link rel="apple-touch-icon" href="touch.png"><link rel="ICON" href="icon.svg">
    <link rel="alternate stylesheet" href="print.css"></head>
    <body><img srcset="photo.jpg 1x"><img src="photo.jpg"><script src="/app.js#x"></script>
    <img src=" spaced name.png "><img src="/caf\u00e9.png?q=\u00e9"><img src="javascript:void(0)">
    </body></html>"""
    found = find_requisites(Selector(text=html).root, "https://cdn.example/assets/")
    assert [(r.url, r.kind) for r in found] == [
        ("https://cdn.example/assets/print.css", Kind.STYLESHEET),
        ("https://cdn.example/assets/mod.js", Kind.SCRIPT),
        ("https://cdn.example/app.js", Kind.SCRIPT),
        ("https://cdn.example/assets/font.woff2", Kind.FONT),
        ("https://cdn.example/assets/icon.svg", Kind.ICON),
        # Found first in a srcset, kept under the kind that ranks higher.
        ("https://cdn.example/assets/photo.jpg", Kind.IMAGE),
        ("https://cdn.example/assets/spaced%20name.png", Kind.IMAGE),
        ("https://cdn.example/caf%C3%A9.png?q=%C3%A9", Kind.IMAGE),
    ]


def test_srcset_urls_may_hold_commas() -> None:
    assert srcset_urls("/c_fill,w_300/a.jpg 300w, /c_fill,w_600/a.jpg 600w") == [
        "/c_fill,w_300/a.jpg",
        "/c_fill,w_600/a.jpg",
    ]
    assert srcset_urls(" a.png, b.png 2x ,, c.png") == ["a.png", "b.png", "c.png"]
    # As the HTML standard reads it (and browsers do): no whitespace, one URL.
    assert srcset_urls("a.png,b.png 2x") == ["a.png,b.png"]
    assert srcset_urls("d.png 100w (fancy, descriptor), e.png") == ["d.png", "e.png"]
    assert srcset_urls("") == []
