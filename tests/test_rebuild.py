"""``archiver rebuild``: a corpus crawled again and compared; dead URLs from a web archive."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from crawler.text.document import Document, parse, render
from tests.conftest import FAST, archiver, index_rows
from tests.server import LocalSite, response
from tests.warc_reading import read_archive

OLD_TEXT = [
    "The town council approved the new park on Monday after a long debate.",
    "Work on the paths and the playground starts in the spring.",
]
NEW_TEXT = [
    "A completely different story about the weather at sea.",
    "Fishermen stayed in port while the storm passed.",
]


def page(title: str, paragraphs: list[str], published: str | None = None) -> bytes:
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    html = (
        f"<html><head><title>{title}</title>{meta}"
        f'<meta property="og:site_name" content="Town News"></head>'
        f"<body><article>{body}</article></body></html>"
    )
    return html.encode()


def html_route(body: bytes):  # type: ignore[no-untyped-def]
    return lambda h: response("200 OK", [("Content-Type", "text/html; charset=utf-8")], body)


def write_doc(folder: Path, name: str, url: str, **fields: object) -> None:
    doc = Document(url=url, **fields)  # type: ignore[arg-type]
    (folder / name).write_text(render(doc), encoding="utf-8")


def read_report(out: Path) -> dict[str, dict[str, object]]:
    lines = (out / "report.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["document"]: row for row in map(json.loads, lines)}


def test_rebuild_a_corpus(site: LocalSite, tmp_path: Path) -> None:
    same = site.add("/r/same", html_route(page("Park Approved", OLD_TEXT, "2019-04-01")))
    changed = site.add("/r/changed", html_route(page("Storm at Sea", NEW_TEXT, "2019-04-02")))
    dead = site.url("/r/dead")
    moved = site.url("/redirect/1")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    common = {"site_name": "Town News", "paragraphs": OLD_TEXT}
    write_doc(
        corpus, "000_same.txt", same, title="Park Approved", published=date(2019, 4, 1), **common
    )
    write_doc(
        corpus,
        "001_changed.txt",
        changed,
        title="Park Approved",
        published=date(2019, 4, 2),
        **common,
    )
    write_doc(corpus, "002_dead.txt", dead, title="Gone", **common)
    write_doc(corpus, "003_moved.txt", moved, title="Plain page", **common)
    write_doc(corpus, "004_again.txt", same, title="Park Approved", **common)
    (corpus / "005_broken.txt").write_text("\n\n# No url\n\nText.", encoding="utf-8")

    result = archiver("rebuild", str(corpus), "-o", "out", *FAST, cwd=tmp_path)
    assert result.returncode == 3, result.stderr  # two documents were not rebuilt
    out = tmp_path / "out"
    report = read_report(out)
    assert list(report) == sorted(p.name for p in corpus.iterdir())

    row = report["000_same.txt"]
    assert (row["outcome"], row["similarity"], row["title_match"], row["date_match"]) == (
        "rebuilt",
        1.0,
        True,
        True,
    )
    row = report["001_changed.txt"]
    assert row["outcome"] == "rebuilt"
    assert row["similarity"] < 0.2
    assert (row["title_match"], row["date_match"]) == (False, True)
    row = report["002_dead.txt"]
    assert (row["outcome"], row["reason"], row["status"]) == ("failed", "HTTP 404 Not Found", 404)
    row = report["003_moved.txt"]
    assert (row["outcome"], row["final_url"]) == ("rebuilt", site.url("/page"))
    assert report["004_again.txt"]["outcome"] == "rebuilt"
    assert report["005_broken.txt"]["outcome"] == "invalid"

    text = out / "text"
    assert sorted(p.name for p in text.iterdir()) == [
        "000_same.txt",
        "001_changed.txt",
        "003_moved.txt",
        "004_again.txt",
    ]
    assert parse((text / "003_moved.txt").read_text(encoding="utf-8")).url == moved
    assert parse((text / "000_same.txt").read_text(encoding="utf-8")).paragraphs == OLD_TEXT

    summary = result.stdout
    assert f"Rebuilt 4 of 6 documents into {Path('out') / 'text'}" in summary
    assert f"002_dead.txt  {dead}  failed: HTTP 404 Not Found" in summary
    assert "005_broken.txt  -  invalid: no 'Original url:' at its end" in summary
    # Every rebuilt document that differs is named, with what differs.
    assert "  titles agree: 3 of 4 with a title on both sides" in summary
    assert "Rebuilt, but different (2):" in summary
    assert f"  003_moved.txt  {moved}  text similarity 0.07 (24 -> 3 words)" in summary
    (line,) = [line for line in summary.splitlines() if line.startswith("  001_changed.txt")]
    assert line.startswith(f"  001_changed.txt  {changed}  text similarity 0.")
    assert line.endswith("title 'Park Approved' -> 'Storm at Sea'")
    assert report["001_changed.txt"]["differs"] == ["text", "title"]
    assert report["000_same.txt"]["differs"] == []
    assert report["002_dead.txt"]["differs"] is None


def test_a_corpus_rebuilt_whole_gives_0_and_names_what_differs(
    site: LocalSite, tmp_path: Path
) -> None:
    same = site.add("/r0/same", html_route(page("Park Approved", OLD_TEXT, "2019-04-01")))
    moved = site.add("/r0/moved", html_route(page("Park Approved", OLD_TEXT, "2019-05-01")))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    common = {"title": "Park Approved", "site_name": "Town News", "paragraphs": OLD_TEXT}
    write_doc(corpus, "a.txt", same, published=date(2019, 4, 1), **common)
    write_doc(corpus, "b.txt", moved, published=date(2019, 4, 1), **common)

    result = archiver("rebuild", str(corpus), "-o", "out", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Rebuilt 2 of 2 documents" in result.stdout
    assert "  dates agree: 1 of 2 with a date on both sides" in result.stdout
    assert "Rebuilt, but different (1):" in result.stdout
    assert f"  b.txt  {moved}  date 2019-04-01 -> 2019-05-01" in result.stdout.splitlines()
    assert "Not rebuilt" not in result.stdout
    report = read_report(tmp_path / "out")
    assert (report["a.txt"]["differs"], report["b.txt"]["differs"]) == ([], ["date"])


def test_rebuild_of_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = archiver("rebuild", "nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: cannot read nowhere: not a folder of corpus documents\n"


def wayback_routes(site: LocalSite, captured: dict[str, list[str]]) -> str:
    """A web archive on the local site: a CDX API and id_ replay, under /wb."""
    archived = {
        "20120201000000": page("Council Votes", OLD_TEXT, "2012-01-30"),
        "20100101000000": page("Too Early", NEW_TEXT),
        "20200101000000": page("Too Late", NEW_TEXT),
    }

    def cdx(handler):  # type: ignore[no-untyped-def]
        query = parse_qs(urlsplit(handler.path).query)
        url = query["url"][0]
        rows = [["timestamp", "original", "statuscode", "mimetype"]]
        if url.endswith("/w/gone"):
            rows += [[stamp, url, "200", "text/html"] for stamp in archived]
        body = json.dumps(rows).encode()
        return response("200 OK", [("Content-Type", "application/json")], body)

    def replay(handler):  # type: ignore[no-untyped-def]
        stamp, _, original = handler.path.removeprefix("/wb/web/").partition("id_/")
        captured.setdefault(stamp, []).append(original)
        return html_route(archived[stamp])(handler)

    site.add("/wb/cdx/search/cdx", cdx)
    site.add("/wb/web/*", replay)
    return site.url("/wb")


def test_dead_urls_come_from_a_web_archive(site: LocalSite, tmp_path: Path) -> None:
    captured: dict[str, list[str]] = {}
    wayback = wayback_routes(site, captured)
    gone, lost = site.url("/w/gone"), site.url("/w/lost")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_doc(
        corpus,
        "000_gone.txt",
        gone,
        title="Council Votes",
        published=date(2012, 1, 30),
        paragraphs=OLD_TEXT,
    )
    write_doc(corpus, "001_lost.txt", lost, title="Lost", paragraphs=OLD_TEXT)

    result = archiver(
        "rebuild",
        str(corpus),
        "-o",
        "out",
        "--archived",
        "-s",
        f"ARCHIVER_WAYBACK_URL={wayback}",
        *FAST,
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stderr  # 001_lost.txt has no archived copy
    out = tmp_path / "out"
    assert captured == {"20120201000000": [gone]}, "the capture closest to the document's date"

    report = read_report(out)
    row = report["000_gone.txt"]
    assert (row["outcome"], row["archived_copy"], row["similarity"]) == (
        "rebuilt",
        "20120201000000",
        1.0,
    )
    assert row["reason"] == "HTTP 404 Not Found (archived copy used)"
    row = report["001_lost.txt"]
    assert (row["outcome"], row["reason"]) == ("failed", "HTTP 404 Not Found; no archived copy")

    doc = parse((out / "text" / "000_gone.txt").read_text(encoding="utf-8"))
    assert doc.url == gone
    assert doc.site_name == "Town News"

    (seed,) = index_rows(out, "SELECT * FROM seeds WHERE document = '000_gone.txt'")
    assert seed["archived_copy"] == "20120201000000"
    assert seed["final_url"] == f"{wayback}/web/20120201000000id_/{gone}"

    records = read_archive(out)
    replayed = next(r for r in records if r.type == "response" and r.url == seed["final_url"])
    (link,) = [r for r in records if r.type == "metadata" and r.url == gone]
    assert link.header("WARC-Refers-To") == replayed.id
    fields = dict(line.split(": ", 1) for line in link.payload.decode().splitlines())
    assert fields["archived-copy-of"] == gone
    assert fields["via"] == seed["final_url"]
    assert fields["original-failure"] == "HTTP 404 Not Found"
    own_404 = next(r for r in records if r.type == "response" and r.url == gone)
    assert fields["original-failure-record"] == own_404.id
    assert any(r.type == "response" and "/wb/cdx/search/cdx?" in (r.url or "") for r in records)
