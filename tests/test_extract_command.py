"""``archiver extract``: the corpus rebuilt from WARC files, with the network made impossible."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.utils.defer import deferred_f_from_coro_f
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.text.document import Document, file_name, parse, render
from tests.conftest import archiver, run_crawl, shared_path, write_urls
from tests.server import LocalSite, chunked, response

ROOT = Path(__file__).resolve().parents[1]


def lines(words: str) -> list[str]:
    return [f"{words} Paragraph {n} goes on about it at some length." for n in range(4)]


def article(title: str, words: str) -> bytes:
    body = "".join(
        f"<p>{words} Paragraph {n} goes on about it at some length.</p>" for n in range(4)
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        "<meta property='og:site_name' content='Extract Times'>"
        "<meta property='article:published_time' content='2022-04-01T10:00:00Z'>"
        f"</head><body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def html(body: bytes, *extra: tuple[str, str]) -> bytes:
    return response("200 OK", [("Content-Type", "text/html; charset=utf-8"), *extra], body)


def texts(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.txt"))}


def offline_prefix() -> list[str]:
    """A command prefix that runs in a network namespace with no interface, or a skip."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed: cannot cut the network")
    flags = ["--net"] if os.geteuid() == 0 else ["-r", "--net"]
    probe = subprocess.run([unshare, *flags, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        why = probe.stderr.decode(errors="replace").strip()
        pytest.skip(f"cannot create a network namespace here ({' '.join(flags)}): {why}")
    return [unshare, *flags]


# Exits 0 only when connecting to the address fails: proof that the namespace has no network.
NO_NETWORK_PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
except OSError as exc:
    print("no network:", exc)
else:
    sys.exit(3)
"""


def clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if k not in ("ARCHIVER_DIR", "SCRAPY_SETTINGS_MODULE")
    }


@deferred_f_from_coro_f
async def test_extract_equals_the_live_corpus_with_no_network(
    site: LocalSite, tmp_path: Path, archive_dir: Path
) -> None:
    current = {"body": article("First Version", "The first version of the story.")}
    gz = gzip.compress(article("Packed Story", "A story sent with gzip."), mtime=0)
    chunks = chunked(article("Chunked Story", "A story sent in chunks."), 64)
    urls = [
        site.add("/x/changing", lambda h: html(current["body"])),
        site.add("/x/gzip", lambda h: html(gz, ("Content-Encoding", "gzip"))),
        site.add(
            "/x/chunked",
            lambda h: response(
                "200 OK", [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")], chunks
            ),
        ),
        site.url("/redirect/1"),
        site.url("/missing"),
        site.add(
            "/x/paper.pdf",
            lambda h: response("200 OK", [("Content-Type", "application/pdf")], b"%PDF-1.4 x"),
        ),
    ]
    url_list = write_urls(tmp_path / "urls.txt", *urls)
    await run_crawl(archive_dir, url_list)
    # A corpus folder as input: its documents keep their names.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    doc_url = site.add("/x/corpus-doc", lambda h: html(article("Corpus Story", "From a corpus.")))
    (corpus / "kept-name.txt").write_text(render(Document(url=doc_url, paragraphs=["Old."])))
    await run_crawl(archive_dir, corpus)
    # The page changed: the latest crawl's text wins, in the live folder and in extract's.
    current["body"] = article("Second Version", "The second version of the story.")
    await run_crawl(archive_dir, url_list)

    live = texts(archive_dir / "text")
    assert "kept-name.txt" in live
    assert b"Second Version" in live[file_name(0, urls[0])]
    assert file_name(4, urls[4]) not in live  # the 404
    assert len(live) >= 5

    out = tmp_path / "out"
    host, port = site.server_address[:2]
    script = (
        f"{sys.executable} -c '{NO_NETWORK_PROBE}' {host} {port} && "
        f"{sys.executable} -m crawler.cli extract {archive_dir} -o {out}"
    )
    run = subprocess.run(
        [*offline_prefix(), "sh", "-c", script],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no network:" in run.stdout
    assert "Traceback" not in run.stderr
    assert texts(out / "text") == live
    assert f"written     {len(live)}" in run.stdout


def foreign_warc(path: Path, pages: list[tuple[str, str, bytes, list[tuple[str, str]]]]) -> None:
    """A wget-like WARC: warcinfo, then request before response; revisits at the end."""
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True, warc_version="1.0")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "Wget/1.21"}))
        first: tuple[str, str, str] | None = None
        for url, status, body, headers in pages:
            request = writer.create_warc_record(
                url,
                "request",
                payload=io.BytesIO(b""),
                length=0,
                http_headers=StatusAndHeaders(
                    f"GET /{url.split('/', 3)[3]} HTTP/1.1",
                    [("Host", "example.org")],
                    is_http_request=True,
                ),
            )
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=StatusAndHeaders(status, headers, protocol="HTTP/1.1"),
            )
            record.rec_headers.add_header(
                "WARC-Concurrent-To", request.rec_headers.get_header("WARC-Record-ID")
            )
            writer.write_record(request)
            writer.write_record(record)
            if first is None:
                first = (
                    url,
                    record.rec_headers.get_header("WARC-Record-ID"),
                    record.rec_headers.get_header("WARC-Date"),
                )
        assert first is not None
        url, record_id, date = first
        revisit = writer.create_revisit_record(
            url,
            "sha1:unused",
            url,
            date,
            http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], "HTTP/1.1"),
        )
        revisit.rec_headers.add_header("WARC-Refers-To", record_id)
        writer.write_record(revisit)


def test_foreign_warc_pages_named_by_record_order(tmp_path: Path) -> None:
    story = article("Foreign Story", "Written by another tool.")
    pages = [
        ("http://example.org/story", "200 OK", story, [("Content-Type", "text/html")]),
        (
            "http://example.org/chunked",
            "200 OK",
            chunked(article("Framed Story", "Kept with its chunk framing."), 50),
            [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")],
        ),
        ("http://example.org/gone", "404 Not Found", b"gone", [("Content-Type", "text/plain")]),
    ]
    warc = tmp_path / "wget.warc.gz"
    foreign_warc(warc, pages)
    out = tmp_path / "out"
    report = tmp_path / "report.jsonl"
    run = archiver("extract", str(warc), "-o", str(out), "--report", str(report), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    expected = {
        file_name(0, "http://example.org/story"),
        file_name(1, "http://example.org/chunked"),
        file_name(3, "http://example.org/story"),  # the revisit, its body from the original
    }
    assert set(texts(out / "text")) == expected
    framed = parse((out / "text" / file_name(1, "http://example.org/chunked")).read_text())
    assert framed.title == "Framed Story"
    assert framed.paragraphs == lines("Kept with its chunk framing.")
    assert framed.url == "http://example.org/chunked"
    revisit = (out / "text" / file_name(3, "http://example.org/story")).read_text()
    assert revisit == (out / "text" / file_name(0, "http://example.org/story")).read_text()
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(row["outcome"] for row in rows) == ["http_error", "written", "written", "written"]
    digest = hashlib.sha256(b"http://example.org/gone").hexdigest()[:16]
    assert {row["name"] for row in rows if row["outcome"] == "http_error"} == {f"002_{digest}.txt"}

    # A text that cannot be written is a failure the exit code tells.
    blocked = tmp_path / "blocked"
    (blocked / "text" / file_name(0, "http://example.org/story")).mkdir(parents=True)
    run = archiver("extract", str(warc), "-o", str(blocked), cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "failed: 1 page(s)" in run.stdout
    assert "could not write text file" in run.stdout


def test_extract_over_the_shared_warc_samples_completes(tmp_path: Path) -> None:
    samples = shared_path("warc-samples")
    run = archiver(
        "extract", str(samples), "-o", str(tmp_path / "out"), "-s", "ARCHIVER_EXTRACT_WORKERS=2"
    )
    assert run.returncode in (0, 1), run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "page(s) from" in run.stdout
    assert "written" in run.stdout
    assert any((tmp_path / "out" / "text").glob("*.txt"))


def test_a_missing_path_exits_2(tmp_path: Path) -> None:
    run = archiver("extract", str(tmp_path / "nowhere"), "-o", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "no such file or folder" in run.stderr
    assert "Traceback" not in run.stderr
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "index.sqlite").touch()
    run = archiver("extract", str(archive), str(tmp_path), "-o", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "give it alone" in run.stderr


def test_a_damaged_file_is_reported_and_the_rest_extracted(tmp_path: Path) -> None:
    warc = tmp_path / "a.warc.gz"
    foreign_warc(warc, [("http://example.org/a", "200 OK", article("A", "Fine."), [])])
    damaged = tmp_path / "b.warc.gz"
    damaged.write_bytes(b"this is not a WARC record\r\n" * 4 + warc.read_bytes())
    run = archiver("extract", str(warc), str(damaged), "-o", str(tmp_path / "out"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "unreadable: " in run.stdout and str(damaged) in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert file_name(0, "http://example.org/a") in texts(tmp_path / "out" / "text")
