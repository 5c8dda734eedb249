"""``archiver export wacz``: a WACZ that validates, with every page's text in ``pages.jsonl``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from crawler.layout import Layout
from crawler.pywb import ToolNotFoundError, ensure_cdxj, find_tool
from crawler.text.document import parse
from tests.conftest import archiver, index_rows
from tests.test_pywb import CHANGING, crawl_replay_site
from tests.test_replay import warc_record


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A crawled archive and its WACZ, written by the command: (folder, WACZ file)."""
    work = tmp_path_factory.mktemp("wacz")
    root = work / "archives"
    crawl_replay_site(root, work)
    out = work / "out" / "archive.wacz"
    result = archiver("export", "wacz", str(root), "-o", str(out), "--title", "Test pages")
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}" in result.stdout
    return root, out


def read_pages(wacz: Path) -> list[dict[str, str]]:
    with zipfile.ZipFile(wacz) as archive:
        lines = archive.read("pages/pages.jsonl").decode("utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_wacz_validates(exported: tuple[Path, Path]) -> None:
    _, wacz = exported
    try:
        tool = find_tool("wacz")
    except ToolNotFoundError as exc:
        pytest.skip(f"py-wacz is not installed: {exc}")
    result = subprocess.run(
        [str(tool), "validate", "-f", str(wacz)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_warc_files_are_stored_whole(exported: tuple[Path, Path]) -> None:
    root, wacz = exported
    warcs = sorted(Layout(root).warc_dir.glob("*.warc.gz"))
    assert len(warcs) == 2
    with zipfile.ZipFile(wacz) as archive:
        for warc in warcs:
            info = archive.getinfo(f"archive/{warc.name}")
            # Stored, not deflated: replay tools read records at their CDXJ offsets.
            assert info.compress_type == zipfile.ZIP_STORED
            assert archive.read(info) == warc.read_bytes()
        index = archive.read("indexes/index.cdxj").decode()
    assert index == Layout(root).cdxj.read_text(encoding="utf-8")
    names = {json.loads(line.split(" ", 2)[2])["filename"] for line in index.splitlines()}
    assert names == {warc.name for warc in warcs}


def test_datapackage_lists_every_file(exported: tuple[Path, Path]) -> None:
    _, wacz = exported
    with zipfile.ZipFile(wacz) as archive:
        package = json.loads(archive.read("datapackage.json"))
        digest = json.loads(archive.read("datapackage-digest.json"))
        contents = {
            name: archive.read(name)
            for name in archive.namelist()
            if not name.startswith("datapackage")
        }
        raw_package = archive.read("datapackage.json")
    assert package["wacz_version"] == "1.1.1"
    assert package["title"] == "Test pages"
    listed = {resource["path"]: resource for resource in package["resources"]}
    assert set(listed) == set(contents)
    for path, data in contents.items():
        assert listed[path]["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert listed[path]["bytes"] == len(data)
    assert digest["hash"] == "sha256:" + hashlib.sha256(raw_package).hexdigest()


def test_pages_carry_url_time_title_and_text(exported: tuple[Path, Path]) -> None:
    root, wacz = exported
    header, *pages = read_pages(wacz)
    assert header == {
        "format": "json-pages-1.0",
        "id": "pages",
        "title": "Test pages",
        "hasText": True,
    }
    written = index_rows(
        root,
        "SELECT id, record_id, url, fetched_at, title, text_path FROM captures "
        "WHERE text_outcome = 'written' ORDER BY id",
    )
    with_text = {page["id"]: page for page in pages if "text" in page}
    assert len(with_text) == len(written)
    assert len({page["id"] for page in pages}) == len(pages)
    # A text file belongs to the last capture that wrote it.
    owners = {row["text_path"]: row for row in written}
    for row in written:
        page = with_text[row["record_id"].strip("<>").removeprefix("urn:uuid:")]
        assert (page["url"], page["ts"]) == (row["url"], row["fetched_at"][:19] + "Z")
        assert page["title"] == row["title"]
        if owners[row["text_path"]] is row:
            document = parse((root / row["text_path"]).read_text(encoding="utf-8"))
            assert page["text"] == "\n\n".join(document.paragraphs)
            assert page["title"] == document.title


def test_each_capture_keeps_its_own_text(exported: tuple[Path, Path]) -> None:
    # The second crawl rewrote the changing page's text file: the first
    # capture's text comes from its conversion record.
    _, wacz = exported
    _, *pages = read_pages(wacz)
    changing = sorted((p for p in pages if p["url"].endswith(CHANGING)), key=lambda p: p["ts"])
    assert [p["title"] for p in changing] == ["Version 1", "Version 2"]
    assert "version 1 of a page" in changing[0]["text"]
    assert "version 2 of a page" in changing[1]["text"]


def test_pages_without_text_are_listed(exported: tuple[Path, Path]) -> None:
    _, wacz = exported
    _, *pages = read_pages(wacz)
    (missing,) = [p for p in pages if p["url"].endswith("/missing")]
    assert "text" not in missing
    assert set(missing) == {"id", "url", "ts", "title"}
    # A redirected entry is listed under the URL it ended at.
    assert not any("/redirect/" in p["url"] for p in pages)


def test_bad_command_lines_exit_2(exported: tuple[Path, Path], tmp_path: Path) -> None:
    root, wacz = exported
    result = archiver("export", "wacz", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.wacz"))
    assert result.returncode == 2
    assert "not an archive folder" in result.stderr
    assert not (tmp_path / "x.wacz").exists()
    assert archiver("export", "wacz", str(root)).returncode == 2
    assert archiver("export", "zip", str(root), "-o", str(tmp_path / "x.zip")).returncode == 2
    before = wacz.read_bytes()
    assert archiver("export", "wacz", str(root), "-o", str(wacz)).returncode == 2
    assert wacz.read_bytes() == before
    forced = archiver("export", "wacz", str(root), "-o", str(wacz), "--force")
    assert forced.returncode == 0, forced.stderr


def test_the_index_is_rebuilt_from_the_files_not_trusted_by_age(tmp_path: Path) -> None:
    # A WARC copied in with its old modification time (cp -p, rsync -a) must be indexed.
    layout = Layout(tmp_path)
    layout.warc_dir.mkdir(parents=True)
    layout.cdxj.parent.mkdir(parents=True)
    layout.cdxj.write_text("", encoding="utf-8")
    copied = layout.warc_dir / "copied.warc.gz"
    copied.write_bytes(
        warc_record(
            [
                ("WARC-Type", "response"),
                ("WARC-Record-ID", "<urn:uuid:00000000-0000-0000-0000-000000000099>"),
                ("WARC-Date", "2020-01-01T00:00:00Z"),
                ("WARC-Target-URI", "http://example.com/"),
                ("Content-Type", "application/http; msgtype=response"),
            ],
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>hi</p>",
        )
    )
    old = layout.cdxj.stat().st_mtime - 3600
    os.utime(copied, (old, old))
    path, problems = ensure_cdxj(layout)
    assert problems == []
    (line,) = path.read_text(encoding="utf-8").splitlines()
    assert '"filename": "copied.warc.gz"' in line
    # A file cut short is reported, not silently left out.
    copied.write_bytes(copied.read_bytes()[:-20])
    _, problems = ensure_cdxj(layout)
    assert problems
