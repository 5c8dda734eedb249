"""Reading URL lists and corpus folders: what is kept, what is reported and why."""

from __future__ import annotations

import io
import os
import threading
import tracemalloc
from datetime import date
from typing import TYPE_CHECKING, TypeVar

import pytest

from crawler.inputs import (
    CREDENTIALS_REMOVED,
    MAX_URL_LENGTH,
    InputError,
    Rejected,
    Seed,
    check_input,
    check_url,
    document_date,
    read_corpus_dir,
    read_input,
    read_url_list,
    split_userinfo,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

_T = TypeVar("_T")


def entries(text: str | bytes) -> list[Seed | Rejected]:
    data = text.encode() if isinstance(text, str) else text
    return list(read_url_list(io.BytesIO(data), "list.txt"))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://example.com/a?b=c#d", None),
        ("http://[::1]:8080/", None),
        ("https://bücher.example/straße", None),
        ("example.com/page", "no scheme (expected http:// or https://)"),
        ("localhost:8000/page", "no scheme (expected http:// or https://)"),
        ("//example.com/page", "no scheme (expected http:// or https://)"),
        ("ftp://example.com/file", "unsupported scheme 'ftp' (only http and https)"),
        ("mailto:someone@example.com", "unsupported scheme 'mailto' (only http and https)"),
        ("javascript:alert(1)", "unsupported scheme 'javascript' (only http and https)"),
        ("http:/example.com", "no host"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://example.com/a b", "contains spaces or control characters"),
        ("http://example.com/\x07", "contains spaces or control characters"),
        ("http://example.com/\u200b", "contains spaces or control characters"),
        ("http://example.com:99999/", "malformed URL: Port out of range 0-65535"),
        ("http://" + "a" * 64 + ".com/", "invalid host name '" + "a" * 64 + ".com'"),
        ("http://example.com/" + "a" * MAX_URL_LENGTH, f"longer than {MAX_URL_LENGTH} characters"),
    ],
)
def test_check_url(url: str, reason: str | None) -> None:
    assert check_url(url) == reason


def test_url_list_skips_comments_blanks_and_spaces() -> None:
    result = entries(
        "\ufeff  https://a.example/1  \n"
        "# a comment\n"
        "\n"
        "   \t\n"
        "  # indented comment\n"
        "https://a.example/2\r\n"
        "https://a.example/3"
    )
    assert result == [
        Seed("https://a.example/1", 0, "list.txt", 1),
        Seed("https://a.example/2", 1, "list.txt", 6),
        Seed("https://a.example/3", 2, "list.txt", 7),
    ]


def test_url_list_reports_bad_lines_with_their_place() -> None:
    result = entries(
        b"https://a.example/1\n"
        b"a.example/no-scheme\n"
        b"https://a.example/\xff\xfe\n"
        b"https://a.example/with space\n"
        b"https://a.example/2\n"
    )
    assert [type(e).__name__ for e in result] == [
        "Seed",
        "Rejected",
        "Rejected",
        "Rejected",
        "Seed",
    ]
    bad = [e for e in result if isinstance(e, Rejected)]
    assert [(e.line, e.position, e.reason) for e in bad] == [
        (2, 1, "no scheme (expected http:// or https://)"),
        (3, 2, "not UTF-8 text"),
        (4, 3, "contains spaces or control characters"),
    ]
    assert result[-1] == Seed("https://a.example/2", 4, "list.txt", 5)


def test_duplicates_are_fetched_once_and_reported() -> None:
    result = entries(
        "https://a.example/page\n"
        "https://A.EXAMPLE/page\n"
        "https://a.example/page#section\n"
        "https://a.example/Page\n"
        "https://a.example/page?x=1\n"
    )
    kinds = [(e.line, e.kind if isinstance(e, Rejected) else "seed") for e in result]
    assert kinds == [(1, "seed"), (2, "duplicate"), (3, "duplicate"), (4, "seed"), (5, "seed")]
    assert result[1].reason == "duplicate of line 1"  # type: ignore[union-attr]


def test_overlong_line_is_reported_without_being_kept() -> None:
    long_line = "https://a.example/" + "x" * (MAX_URL_LENGTH * 10)
    result = entries(long_line + "\nhttps://a.example/ok\n")
    assert isinstance(result[0], Rejected)
    assert result[0].reason == f"longer than {MAX_URL_LENGTH} characters"
    assert result[1] == Seed("https://a.example/ok", 1, "list.txt", 2)


def test_url_list_streams(tmp_path: Path) -> None:
    """A large list is read line by line: memory does not grow with the file."""
    path = tmp_path / "big.txt"
    with path.open("w") as handle:
        for i in range(30_000):
            handle.write(f"https://example.com/{i % 1000}\n")  # 1000 distinct URLs
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_input(str(path)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 30_000
    assert path.stat().st_size > 700_000
    assert peak < 300_000, f"peak {peak} bytes for a {path.stat().st_size}-byte list"


def corpus_document(url: str, title: str = "A title") -> str:
    return f"\n\n# {title}\n\nJanuary 30, 2012\n\nSome text.\n\nOriginal url:\n\n<{url}>"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("\n\n# Title\n\nMarch 5, 2020\n\n**Site**\n\nText", date(2020, 3, 5)),
        ("\n\nMarch 5, 2020\n\nText", date(2020, 3, 5)),
        ("\n\n# Title\n\n**Site**\n\nMarch 5, 2020\n", None),
        ("\n\n# Title\n\nFebruary 30, 2020\n\nText", None),
        ("# Title\n\nMarch 5, 2020\n", None),
    ],
)
def test_document_date(head: str, expected: date | None) -> None:
    assert document_date(head) == expected


def test_corpus_folder(tmp_path: Path) -> None:
    (tmp_path / "001_b.txt").write_text(corpus_document("https://b.example/"), encoding="utf-8")
    (tmp_path / "000_a.txt").write_text(corpus_document("https://a.example/x"), encoding="utf-8")
    (tmp_path / "002_c.txt").write_text("\n\n# No url here\n\nText.", encoding="utf-8")
    (tmp_path / "003_d.txt").write_text(corpus_document("https://a.example/x"), encoding="utf-8")
    (tmp_path / "004_e.txt").write_text(corpus_document("ftp://e.example/"), encoding="utf-8")
    (tmp_path / "notes.md").write_text("not a document", encoding="utf-8")
    result = list(read_corpus_dir(tmp_path))
    assert result[0] == Seed(
        "https://a.example/x", 0, str(tmp_path / "000_a.txt"), 11, "000_a.txt", date(2012, 1, 30)
    )
    assert result[1] == Seed(
        "https://b.example/", 1, str(tmp_path / "001_b.txt"), 11, "001_b.txt", date(2012, 1, 30)
    )
    assert isinstance(result[2], Rejected)
    assert (result[2].document, result[2].reason) == ("002_c.txt", "no 'Original url:' at its end")
    assert isinstance(result[3], Rejected)
    assert (result[3].kind, result[3].reason) == ("duplicate", "duplicate of 000_a.txt")
    assert isinstance(result[4], Rejected)
    assert result[4].reason == "unsupported scheme 'ftp' (only http and https)"
    assert len(result) == 5


def test_corpus_seed_document(tmp_path: Path) -> None:
    from tests.conftest import shared_path

    folder = shared_path("seed")
    (seed,) = read_corpus_dir(folder)
    assert isinstance(seed, Seed)
    assert seed.url == (
        "https://www.themoscowtimes.com/2012/01/30/russia-says-syria-ready-to-join-talks-a12252"
    )
    assert seed.document == "000_045c58d6f1a17ab2.txt"
    assert seed.published == date(2012, 1, 30)


def test_unreadable_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        check_input(str(tmp_path / "missing.txt"))
    locked = tmp_path / "locked.txt"
    locked.write_text("https://a.example/\n")
    locked.chmod(0)
    try:
        with locked.open("rb"):
            pytest.skip("file permissions do not apply to this user (root)")
    except PermissionError:
        with pytest.raises(InputError, match="Permission denied"):
            check_input(str(locked))
    finally:
        locked.chmod(0o644)


@pytest.mark.parametrize(
    ("url", "bare", "userinfo"),
    [
        ("https://a.example/", "https://a.example/", None),
        ("https://user:pw@a.example/x", "https://a.example/x", "user:pw"),
        ("https://user@a.example:8080/", "https://a.example:8080/", "user"),
        ("https://u:p%40ss@a.example/", "https://a.example/", "u:p%40ss"),
        ("https://u:p@ss@a.example/", "https://a.example/", "u:p@ss"),
        ("https://@a.example/", "https://a.example/", None),
        ("https://a.example/path@here", "https://a.example/path@here", None),
        ("https://a.example/?to=me@b.example", "https://a.example/?to=me@b.example", None),
    ],
)
def test_split_userinfo(url: str, bare: str, userinfo: str | None) -> None:
    assert split_userinfo(url) == (bare, userinfo)


def test_credentials_are_kept_apart_from_the_url() -> None:
    seed, rejected, duplicate = entries(
        "https://archivist:p%40ss@a.example/page\n"
        "ftp://archivist:secret@a.example/file\n"
        "https://archivist:p%40ss@a.example/page#again\n"
    )
    assert isinstance(seed, Seed)
    assert (seed.url, seed.userinfo) == ("https://a.example/page", "archivist:p%40ss")
    assert "p%40ss" not in repr(seed)
    public, credentials = seed.take_credentials()
    assert credentials == ("archivist", "p@ss")
    assert (public.url, public.userinfo, public.authorized) == (
        "https://a.example/page",
        None,
        True,
    )
    assert isinstance(rejected, Rejected)
    assert rejected.text == "ftp://a.example/file"
    assert (
        rejected.reason == f"unsupported scheme 'ftp' (only http and https) ({CREDENTIALS_REMOVED})"
    )
    assert isinstance(duplicate, Rejected)
    assert (duplicate.text, duplicate.kind) == ("https://a.example/page#again", "duplicate")


def in_thread(function: Callable[[], _T], timeout: float = 30) -> _T:
    """``function()`` in a daemon thread: a call that hangs fails the test instead."""
    result: list[_T] = []
    thread = threading.Thread(target=lambda: result.append(function()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert result, f"{function} did not return within {timeout} s"
    return result[0]


def test_corpus_entries_that_are_no_regular_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(corpus_document("https://a.example/"), encoding="utf-8")
    os.mkfifo(tmp_path / "b.txt")
    (tmp_path / "c.txt").mkdir()
    (tmp_path / "d.txt").symlink_to("/dev/zero")
    result = in_thread(lambda: list(read_corpus_dir(tmp_path)))
    assert isinstance(result[0], Seed)
    assert [(e.document, e.reason) for e in result[1:] if isinstance(e, Rejected)] == [
        ("b.txt", "not a regular file: a named pipe (FIFO)"),
        ("c.txt", "not a regular file: a folder"),
        ("d.txt", "not a regular file: a character device"),
    ]


def test_a_fifo_given_as_the_list_is_checked_without_being_read(tmp_path: Path) -> None:
    fifo = tmp_path / "urls.fifo"
    os.mkfifo(fifo)
    in_thread(lambda: check_input(str(fifo)))


def test_a_corpus_url_that_is_not_utf8_is_invalid(tmp_path: Path) -> None:
    document = corpus_document("https://a.example/caf\u00e9-cr\u00e8me").encode("latin-1")
    (tmp_path / "a.txt").write_bytes(document)
    good = corpus_document("https://a.example/cr\u00e8me").encode("utf-8")
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe odd bytes before the end\n" + good)
    (entry, other) = read_corpus_dir(tmp_path)
    assert isinstance(entry, Rejected)
    assert entry.reason == "not UTF-8 text: 0xE9 at offset 21 of the URL"
    assert entry.text == "https://a.example/caf\ufffd-cr\ufffdme"
    assert entry.line == 11
    # Bytes that are not UTF-8 elsewhere in a document do not matter.
    assert isinstance(other, Seed)
    assert other.url == "https://a.example/cr\u00e8me"
