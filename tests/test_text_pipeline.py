"""Real crawls that turn pages into corpus text files, conversion records and index outcomes."""

from __future__ import annotations

import gzip
import json
import re
from datetime import date
from pathlib import Path

from scrapy.utils.defer import deferred_f_from_coro_f

from crawler.text.document import file_name, parse
from tests.conftest import index_rows, run_crawl, shared_path, write_urls
from tests.server import LocalSite, response
from tests.warc_reading import read_archive

ARTICLE = """<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Rivers Rise After Storm | The Daily Example</title>
<meta property="og:site_name" content="The Daily Example">
<meta property="og:title" content="Rivers Rise After Storm">
<meta name="author" content="Jane Reporter">
<meta property="article:published_time" content="2021-03-05T08:00:00Z">
</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>Rivers Rise After Storm</h1>
<p>Rivers across the region rose sharply on Friday after two days of heavy rain, flooding
low-lying streets and closing several bridges to traffic.</p>
<p>Officials said the water was expected to peak overnight and urged residents near the banks
to move valuables to upper floors and to avoid driving through flooded roads.</p>
<p>Emergency crews worked through the morning to clear drains, while volunteers filled
sandbags outside the town hall and handed them to shop owners along the river.</p>
</article>
<footer>Copyright The Daily Example. All rights reserved.</footer>
</body></html>"""

LATIN1_PAGE = (
    "<html><head><title>Café crème</title></head><body><article>"
    + "<p>Le café crème est servi à la terrasse, près de la rivière, chaque matin d'été.</p>" * 4
    + "</article></body></html>"
).encode("iso-8859-1")

CYRILLIC_PAGE = (
    "<html><head><title>Новости дня</title></head><body><article>"
    + "<p>Сегодня в городе прошла большая ярмарка, на которую пришли тысячи жителей.</p>" * 6
    + "</article></body></html>"
).encode("windows-1251")


def serve(site: LocalSite, path: str, body: bytes, content_type: str | None) -> str:
    headers = [("Content-Type", content_type)] if content_type else []
    return site.add(path, lambda h: response("200 OK", headers, body))


@deferred_f_from_coro_f
async def test_pages_become_text_files(site: LocalSite, tmp_path: Path, archive_dir: Path) -> None:
    urls = [
        serve(site, "/t/article", ARTICLE.encode(), "text/html; charset=utf-8"),
        serve(site, "/t/latin1", LATIN1_PAGE, "text/html; charset=ISO-8859-1"),
        serve(site, "/t/cyrillic", CYRILLIC_PAGE, "text/html"),
        serve(site, "/t/untyped", ARTICLE.encode(), None),
        serve(site, "/t/report.pdf", b"%PDF-1.4 not really a pdf", "application/pdf"),
        serve(site, "/t/data.json", b'{"a": 1}', "application/json"),
        serve(
            site,
            "/t/empty",
            b"<html><head><title>x</title></head><body></body></html>",
            "text/html",
        ),
        site.url("/redirect/1"),
        site.url("/missing"),
    ]
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", *urls))
    text_dir = archive_dir / "text"

    article = parse((text_dir / file_name(0, urls[0])).read_text(encoding="utf-8"))
    assert article.title == "Rivers Rise After Storm"
    assert article.published == date(2021, 3, 5)
    assert article.site_name == "The Daily Example"
    assert article.url == urls[0]
    assert article.paragraphs[0].startswith("Rivers across the region rose sharply")
    assert len(article.paragraphs) == 3
    assert not any("Copyright" in p or "Home" in p for p in article.paragraphs)

    latin1 = parse((text_dir / file_name(1, urls[1])).read_text(encoding="utf-8"))
    assert latin1.title == "Café crème"
    assert "près de la rivière" in latin1.paragraphs[0]
    cyrillic = parse((text_dir / file_name(2, urls[2])).read_text(encoding="utf-8"))
    assert "ярмарка" in cyrillic.paragraphs[0]
    untyped = parse((text_dir / file_name(3, urls[3])).read_text(encoding="utf-8"))
    assert untyped.paragraphs == article.paragraphs

    # The redirected URL keeps its own name and the URL the user gave.
    redirected = parse((text_dir / file_name(7, urls[7])).read_text(encoding="utf-8"))
    assert redirected.url == urls[7]
    assert sorted(p.name for p in text_dir.iterdir()) == sorted(
        file_name(i, urls[i]) for i in (0, 1, 2, 3, 7)
    )

    outcomes = {
        row["url"]: (row["text_outcome"], row["text_reason"])
        for row in index_rows(archive_dir, "SELECT * FROM captures WHERE record_type = 'response'")
    }
    assert outcomes[urls[4]] == ("not_html", "not HTML (application/pdf)")
    assert outcomes[urls[5]] == ("not_html", "not HTML (application/json)")
    assert outcomes[urls[6]] == ("empty", "no main text found")
    assert outcomes[urls[8]] == ("http_error", "HTTP 404 Not Here")
    assert outcomes[site.url("/redirect/1")] == (None, None)  # a hop, not a page
    assert outcomes[site.url("/page")][0] == "written"

    # Each text is archived as a conversion record of its response, byte for byte.
    records = read_archive(archive_dir)
    by_id = {r.id: r for r in records}
    conversions = [r for r in records if r.type == "conversion"]
    assert len(conversions) == 5
    rows = index_rows(archive_dir, "SELECT * FROM captures WHERE text_outcome = 'written'")
    for row in rows:
        conversion = by_id[row["conversion_record_id"]]
        assert conversion.header("WARC-Refers-To") == row["record_id"]
        # Its own URI, so that replay tools never serve the text for the page.
        assert conversion.url == "urn:text:" + row["url"]
        assert conversion.header("WARC-Refers-To-Target-URI") == row["url"]
        assert conversion.header("WARC-Refers-To-Date") == row["fetched_at"]
        assert conversion.payload == (archive_dir / row["text_path"]).read_bytes()
    article_row = next(r for r in rows if r["url"] == urls[0])
    assert (article_row["author"], article_row["language"], article_row["site_name"]) == (
        "Jane Reporter",
        "en",
        "The Daily Example",
    )
    assert (article_row["title"], article_row["published"]) == (
        "Rivers Rise After Storm",
        "2021-03-05",
    )
    assert article_row["text_chars"] == sum(len(p) for p in article.paragraphs)

    seeds = {r["url"]: r for r in index_rows(archive_dir, "SELECT * FROM seeds")}
    assert seeds[urls[0]]["text_path"] == f"text/{file_name(0, urls[0])}"
    assert seeds[urls[4]]["reason"] == "not HTML (application/pdf)"


@deferred_f_from_coro_f
async def test_a_hanging_or_crashing_extraction_costs_only_its_page(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    urls = [
        serve(site, "/x/hang", ARTICLE.encode(), "text/html"),
        serve(site, "/x/crash", ARTICLE.encode(), "text/html"),
        serve(site, "/x/fine", ARTICLE.encode(), "text/html"),
        serve(site, "/x/fine-too", ARTICLE.encode(), "text/html"),
    ]
    crawler = await run_crawl(
        archive_dir,
        write_urls(tmp_path / "urls.txt", *urls),
        ARCHIVER_EXTRACT_FUNCTION="tests.extractors.misbehaving",
        ARCHIVER_EXTRACT_TIMEOUT=2,
        ARCHIVER_EXTRACT_WORKERS=1,
    )
    assert crawler.stats.get_value("finish_reason") == "finished"
    outcomes = {
        row["url"]: (row["text_outcome"], row["text_reason"])
        for row in index_rows(archive_dir, "SELECT * FROM captures WHERE record_type = 'response'")
    }
    assert outcomes[urls[0]] == ("timeout", "extraction took longer than 2 s")
    assert outcomes[urls[1]] == ("crashed", "extraction worker died (exit code 3)")
    assert outcomes[urls[2]][0] == "written"
    assert outcomes[urls[3]][0] == "written"


def _lenient(title: str) -> str:
    return re.sub(r"\W+", "", title.casefold())


@deferred_f_from_coro_f
async def test_real_pages(site: LocalSite, tmp_path: Path, archive_dir: Path) -> None:
    """Real articles with ground truth: one correct text file each."""
    folder = shared_path("pages", "newspaper4k-fixtures")
    lines = (folder / "pages.jsonl").read_text(encoding="utf-8").splitlines()
    truth = [json.loads(line) for line in lines]
    urls = []
    for page in truth:
        body = gzip.decompress((folder / page["html"]).read_bytes())
        urls.append(serve(site, f"/real/{page['id']}", body, "text/html"))
    await run_crawl(archive_dir, write_urls(tmp_path / "urls.txt", *urls))
    titles = with_title = dates = with_date = 0
    for position, (url, page) in enumerate(zip(urls, truth, strict=True)):
        doc = parse((archive_dir / "text" / file_name(position, url)).read_text(encoding="utf-8"))
        assert doc.url == url and doc.paragraphs
        words = set(re.findall(r"\w+", " ".join(doc.paragraphs).casefold()))
        expected = set(re.findall(r"\w+", page["text"].casefold()))
        assert len(words & expected) >= 0.6 * len(expected), page["id"]
        if page["title"]:
            with_title += 1
            titles += doc.title is not None and _lenient(page["title"]) in _lenient(doc.title)
        if page["date"]:
            with_date += 1
            dates += doc.published is not None and doc.published.isoformat() == page["date"][:10]
    # The set's titles are machine-made, some wrong ("Analysis:" vs "Alito and Prelogar:").
    assert titles >= 0.7 * with_title
    assert dates >= 0.7 * with_date
