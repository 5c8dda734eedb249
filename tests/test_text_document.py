"""The corpus text format: golden documents, the seed document, refusals and round trips."""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import stat
from datetime import date, datetime
from typing import TYPE_CHECKING
from unicodedata import category

import pytest

from crawler.text.document import (
    AmbiguousDocumentError,
    Document,
    DocumentFormatError,
    DocumentValueError,
    file_name,
    format_date,
    normalize_line,
    normalize_paragraphs,
    parse,
    parse_date,
    render,
    write_document,
)
from tests.conftest import shared_path

if TYPE_CHECKING:
    from pathlib import Path

SEED_NAME = "000_045c58d6f1a17ab2.txt"
SEED_URL = "https://www.themoscowtimes.com/2012/01/30/russia-says-syria-ready-to-join-talks-a12252"

URL = "https://news.example/2020/03/05/harbour-bridge"
TRAILER = f"\n\nOriginal url:\n\n<{URL}>"
TITLE = "\n\n# Harbour Bridge Reopens"
DATE = "\n\nMarch 5, 2020"
SITE = "\n\n**The  Harbour Gazette**"
BODY = (
    "\n\nThe bridge reopened on Thursday after two years of repairs."
    "\n\nCommuters welcomed the change: \u201cfinally\u201d, said one, caf\u00e9 in hand."
)
PARAGRAPHS = [
    "The bridge reopened on Thursday after two years of repairs.",
    "Commuters welcomed the change: \u201cfinally\u201d, said one, caf\u00e9 in hand.",
]
FULL = TITLE + DATE + SITE + BODY + TRAILER


def assert_rejected_or_round_trips(text: str) -> None:
    """``text`` is either refused with a format error or parsed and rendered back exactly."""
    try:
        document = parse(text)
    except DocumentFormatError:
        return
    assert render(document) == text


def doc(**fields: object) -> Document:
    """The full golden document, with some fields changed."""
    values: dict[str, object] = {
        "title": "Harbour Bridge Reopens",
        "published": date(2020, 3, 5),
        "site_name": "The  Harbour Gazette",
        "paragraphs": PARAGRAPHS,
        "url": URL,
    }
    values.update(fields)
    return Document(**values)  # type: ignore[arg-type]


GOLDEN = {
    "full": (FULL, doc()),
    "no date": (TITLE + SITE + BODY + TRAILER, doc(published=None)),
    "no site name": (TITLE + DATE + BODY + TRAILER, doc(site_name=None)),
    "neither": (TITLE + BODY + TRAILER, doc(published=None, site_name=None)),
    "no title": (DATE + SITE + BODY + TRAILER, doc(title=None)),
    "only a site name": (SITE + BODY + TRAILER, doc(title=None, published=None)),
    "no header at all": (BODY + TRAILER, doc(title=None, published=None, site_name=None)),
    "no paragraph": (TITLE + DATE + SITE + TRAILER, doc(paragraphs=[])),
    "nothing but the url": (TRAILER, Document(url=URL)),
    "headings and lists": (
        TITLE
        + DATE
        + SITE
        + "\n\nIntro.\n\n## Traffic\n\n- Lane one\n\n### Tolls\n\nNone."
        + TRAILER,
        doc(paragraphs=["Intro.", "## Traffic", "- Lane one", "### Tolls", "None."]),
    ),
    "title-like paragraph after a title": (
        TITLE + "\n\n# Not a title" + TRAILER,
        doc(published=None, site_name=None, paragraphs=["# Not a title"]),
    ),
    "date-like paragraph after the site name": (
        TITLE + SITE + "\n\nMarch 5, 2020" + TRAILER,
        doc(published=None, paragraphs=["March 5, 2020"]),
    ),
    "bold paragraph after the site name": (
        SITE + "\n\n**Bold lede**" + TRAILER,
        doc(title=None, published=None, paragraphs=["**Bold lede**"]),
    ),
    "label-like paragraph": (
        TITLE + "\n\nOriginal url:\n\n<https://other.example/>" + TRAILER,
        doc(
            published=None,
            site_name=None,
            paragraphs=["Original url:", "<https://other.example/>"],
        ),
    ),
    "site name with a trailing space": (
        "\n\n**Gazette **" + BODY + TRAILER,
        doc(title=None, published=None, site_name="Gazette "),
    ),
}


@pytest.mark.parametrize(("text", "expected"), GOLDEN.values(), ids=GOLDEN.keys())
def test_golden_documents_parse_and_render(text: str, expected: Document) -> None:
    assert parse(text) == expected
    assert render(expected) == text


def test_full_golden_bytes() -> None:
    # Spelled out once, byte by byte, so that a change of the shared pieces shows.
    assert render(doc()).encode("utf-8") == (
        b"\n\n# Harbour Bridge Reopens\n\nMarch 5, 2020\n\n**The  Harbour Gazette**\n\n"
        b"The bridge reopened on Thursday after two years of repairs.\n\n"
        b"Commuters welcomed the change: \xe2\x80\x9cfinally\xe2\x80\x9d, said one, "
        b"caf\xc3\xa9 in hand.\n\n"
        b"Original url:\n\n<https://news.example/2020/03/05/harbour-bridge>"
    )


# -- the seed document of the real corpus --------------------------------------


def test_seed_round_trips_byte_for_byte(tmp_path: Path) -> None:
    raw = shared_path("seed", SEED_NAME).read_bytes()
    document = parse(raw.decode("utf-8"))
    assert render(document).encode("utf-8") == raw
    assert write_document(tmp_path, SEED_NAME, render(document)).read_bytes() == raw


def test_seed_fields() -> None:
    document = parse(shared_path("seed", SEED_NAME).read_bytes().decode("utf-8"))
    assert document.title == "Russia Says Syria Ready to Join Talks"
    assert document.published == date(2012, 1, 30)
    assert document.site_name == "The  Moscow Times"
    assert document.url == SEED_URL
    assert len(document.paragraphs) == 10
    assert document.paragraphs[0].startswith("Syria has agreed to take part")
    assert document.paragraphs[3].endswith("agree. \u2612")
    assert document.paragraphs[-1].startswith("Russia submitted its own draft")


# -- dates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2020, 3, 5), "March 5, 2020"),
        (date(2012, 1, 30), "January 30, 2012"),
        (date(1999, 12, 31), "December 31, 1999"),
        (date(2024, 2, 29), "February 29, 2024"),
        (date(999, 5, 1), "May 1, 999"),
        (date(9999, 9, 9), "September 9, 9999"),
    ],
)
def test_dates(day: date, text: str) -> None:
    assert format_date(day) == text
    assert parse_date(text) == day


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("March 05, 2020", "leading zero"),
        ("February 30, 2012", "not a real calendar date"),
        ("February 29, 2021", "not a real calendar date"),
        ("March 0, 2020", "not a real calendar date"),
        ("March 5, 02020", "year must be 1 to 9999"),
        ("March 5, 0", "year must be 1 to 9999"),
        ("march 5, 2020", "is not a date written like"),
        ("March 5 2020", "is not a date written like"),
        ("Mar 5, 2020", "is not a date written like"),
        ("2020-03-05", "is not a date written like"),
    ],
)
def test_bad_dates(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_date(text)


# -- malformed documents --------------------------------------------------------

MALFORMED = {
    "empty": ("", 1, "the document is empty"),
    "no Original url label": (
        TITLE + BODY + f"\n\n<{URL}>",
        7,
        "expected 'Original url:' before the URL line",
    ),
    "no trailer at all": (TITLE + BODY, 7, "the last line must be the original URL"),
    "label but no url": (TITLE + BODY + "\n\nOriginal url:", 9, "the last line must be"),
    "empty url": (TITLE + "\n\nOriginal url:\n\n<>", 7, "the last line must be"),
    "url with a space": (
        TITLE + "\n\nOriginal url:\n\n<https://a.example/a b>",
        7,
        "the URL contains whitespace",
    ),
    "newline after the url": (FULL + "\n", 15, "a line break after the end"),
    "blank lines after the url": (FULL + "\n\n", 15, "a line break after the end"),
    "CRLF line ends": (FULL.replace("\n", "\r\n"), 1, "carriage return"),
    "carriage return inside": (TITLE + "\r" + TRAILER, 3, "carriage return"),
    "byte order mark": ("\ufeff" + FULL, 1, "byte order mark"),
    "no leading empty lines": (FULL[2:], 1, "starts with two empty lines"),
    "one leading empty line": (FULL[1:], 2, "starts with two empty lines"),
    "three leading empty lines": ("\n" + FULL, 3, "more than one empty line at the start"),
    "bad date": (
        TITLE + "\n\nFebruary 30, 2012" + BODY + TRAILER,
        5,
        "bad date line: 'February 30, 2012' is not a real calendar date",
    ),
    "date with a leading zero": (TITLE + "\n\nMarch 05, 2020" + TRAILER, 5, "leading zero"),
    "trailing space": (TITLE + " " + BODY + TRAILER, 3, "ends with whitespace"),
    "trailing space in a paragraph": (
        TITLE + "\n\nA paragraph. " + TRAILER,
        5,
        "ends with whitespace",
    ),
    "trailing no-break space": (TITLE + "\u00a0" + TRAILER, 3, "ends with whitespace"),
    "tab": (TITLE + "\tx" + TRAILER, 3, "control character U+0009"),
    "control character": (TITLE + "\x00" + TRAILER, 3, "control character U+0000"),
    "line separator": (TITLE + "\u2028x" + TRAILER, 3, "control character U+2028"),
    "two empty lines between paragraphs": (
        TITLE + "\n\nOne.\n\n\nTwo." + TRAILER,
        7,
        "more than one empty line in a row",
    ),
    "paragraph over two lines": (
        TITLE + "\n\nOne\ncontinued." + TRAILER,
        6,
        "expected an empty line, found 'continued.'",
    ),
}


@pytest.mark.parametrize(("text", "line", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_documents_are_rejected(text: str, line: int, message: str) -> None:
    with pytest.raises(DocumentFormatError, match=re.escape(message)) as caught:
        parse(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")


def test_format_error_is_a_value_error_and_pickles() -> None:
    with pytest.raises(ValueError, match="line 1") as caught:
        parse("no document")
    assert isinstance(caught.value, DocumentFormatError)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert isinstance(copy, DocumentFormatError)
    assert (copy.line, str(copy)) == (caught.value.line, str(caught.value))


# -- documents that render refuses ----------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            doc(published=None, site_name=None, paragraphs=["March 5, 2020", "Text."]),
            "read as the date line",
        ),
        (doc(site_name=None, paragraphs=["**Bold lede**"]), "read as the site name line"),
        (
            doc(title=None, published=None, site_name=None, paragraphs=["# Heading"]),
            "read as the title line",
        ),
        # Has the date's shape without being a date: the parser would reject it.
        (doc(published=None, site_name=None, paragraphs=["February 30, 2012"]), "date line"),
    ],
)
def test_ambiguous_documents_are_refused(document: Document, message: str) -> None:
    with pytest.raises(AmbiguousDocumentError, match=re.escape(message)):
        render(document)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (doc(title=""), "the title is empty"),
        (doc(title="Two\nlines"), "the title contains a line break"),
        (doc(title="Spaced "), "the title ends with whitespace"),
        (doc(site_name=""), "the site name is empty"),
        (doc(site_name="Gazette\n"), "the site name contains a line break"),
        (doc(paragraphs=["One.", ""]), "paragraph 2 is empty"),
        (doc(paragraphs=["One.\r"]), "paragraph 1 contains a carriage return"),
        (doc(paragraphs=["Bell\x07"]), "paragraph 1 contains the control character U+0007"),
        (doc(paragraphs=["Lone \ud800"]), "lone surrogate"),
        (doc(url=""), "the url is empty"),
        (doc(url="https://a.example/a b"), "the url contains whitespace"),
        (doc(published=datetime(2020, 3, 5, 12, 0)), "published must be a datetime.date"),
    ],
)
def test_unwritable_values_are_refused(document: Document, message: str) -> None:
    with pytest.raises(DocumentValueError, match=re.escape(message)):
        render(document)


# -- normalization of extracted text --------------------------------------------


def test_normalize_paragraphs() -> None:
    extracted = (
        "\ufeff  Harbour\u00a0bridge \t reopens  \r\n"
        "\r\n"
        "   \n"
        "## Traffic\u200b\n"
        "- Lane\u00ad one\x0c1. Lane two\x00\n"
        "\u2028Persian \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 keeps its ZWNJ\r"
        "last\tline"
    )
    assert normalize_paragraphs(extracted) == [
        "Harbour bridge reopens",
        "## Traffic",
        "- Lane one",
        "1. Lane two",
        "Persian \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 keeps its ZWNJ",
        "last line",
    ]
    # A lone surrogate (from a lenient decode) cannot be UTF-8: it shows as U+FFFD.
    assert normalize_paragraphs("a\udc80b") == ["a\ufffdb"]
    assert normalize_paragraphs("") == []
    assert normalize_paragraphs(" \n\u200b\n\t") == []


def test_normalize_line() -> None:
    assert normalize_line("  Harbour\n  Bridge\tReopens \u200b") == "Harbour Bridge Reopens"
    assert normalize_line("\u200b \n") == ""
    # A site name keeps its runs of spaces; only line breaks and tabs become spaces.
    assert normalize_line(" The  Moscow\r\nTimes\u00a0", keep_spaces=True) == "The  Moscow Times"
    assert normalize_line("The  Moscow Times", keep_spaces=True) == "The  Moscow Times"


# -- file names and writing -----------------------------------------------------


def test_file_name() -> None:
    # Digests from `printf %s URL | sha256sum`.
    assert file_name(0, URL) == "000_dc6925378aa7d897.txt"
    assert file_name(42, "https://example.org/\u00fcn\u00efcode?q=1") == "042_14136c1136da1d18.txt"
    assert file_name(1234, URL) == "1234_dc6925378aa7d897.txt"
    # The seed is named 045c58d6f1a17ab2, not this: the corpus it comes from hashed
    # something else, which is why a rebuilt document keeps its old file name.
    assert file_name(0, SEED_URL) == "000_58035e62df3b7041.txt"
    with pytest.raises(ValueError, match="position"):
        file_name(-1, URL)


def test_write_document_writes_the_exact_bytes(tmp_path: Path) -> None:
    text = render(doc())
    path = write_document(tmp_path, "000_x.txt", text)
    assert path == tmp_path / "000_x.txt"
    assert path.read_bytes() == text.encode("utf-8")
    assert b"\r" not in path.read_bytes()
    # Replacing leaves only the new file, no temporary one beside it.
    write_document(tmp_path, "000_x.txt", "second")
    assert path.read_bytes() == b"second"
    assert [entry.name for entry in tmp_path.iterdir()] == ["000_x.txt"]


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_write_document_follows_the_umask(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = write_document(tmp_path, "a.txt", "text")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("name", ["", ".", "..", "../escape.txt", "sub/a.txt", "a\0.txt"])
def test_write_document_refuses_paths(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        write_document(tmp_path, name, "text")


def test_write_document_cleans_up_after_a_failure(tmp_path: Path) -> None:
    (tmp_path / "taken.txt").mkdir()
    with pytest.raises(OSError):
        write_document(tmp_path, "taken.txt", "text")
    with pytest.raises(UnicodeEncodeError):
        write_document(tmp_path, "lone.txt", "\udc80")
    assert [entry.name for entry in tmp_path.iterdir()] == ["taken.txt"]


# -- properties -----------------------------------------------------------------

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a test dependency

    def test_properties() -> None:
        pytest.skip("hypothesis is not installed: the property tests need it")

else:
    MONTH_NAMES = (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    )  # fmt: skip
    # Values shaped like the header lines and the trailer, which random text almost
    # never hits, mixed with arbitrary single-line text.
    TRICKY = [
        "# Heading", "## Sub", "#", "# #", "March 5, 2020", "February 30, 2012",
        "March 05, 2020", "May 1, 999", "**Bold**", "****", "*****", "** **",
        "Original url:", "<https://a.example/>", "<>", "\u2612", "x",
    ]  # fmt: skip
    # Soft hyphen, Mongolian vowel separator, zero-width space, word joiner,
    # invisible operators, BOM: what normalization drops besides controls.
    INVISIBLE = "\u00ad\u180e\u200b\u2060\u2061\u2062\u2063\u2064\ufeff"
    PROPERTY = settings(database=None, deadline=None, max_examples=300)

    chars = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))
    free_text = st.text(chars, min_size=1)
    line = st.one_of(st.sampled_from(TRICKY), free_text.map(str.rstrip).filter(bool))
    url = st.one_of(
        st.just(URL),
        st.text(chars, min_size=1).filter(lambda u: not any(c.isspace() for c in u)),
    )
    documents = st.builds(
        Document,
        title=st.none() | line,
        published=st.none() | st.dates(),
        site_name=st.none() | line | free_text,
        paragraphs=st.lists(line, max_size=5),
        url=url,
    )

    def reference_render(document: Document) -> str:
        """The format written out plainly, with no checks, as the oracle."""
        lines = []
        if document.title is not None:
            lines.append(f"# {document.title}")
        if (day := document.published) is not None:
            lines.append(f"{MONTH_NAMES[day.month - 1]} {day.day}, {day.year}")
        if document.site_name is not None:
            lines.append(f"**{document.site_name}**")
        lines += [*document.paragraphs, "Original url:", f"<{document.url}>"]
        return "\n\n" + "\n\n".join(lines)

    @PROPERTY
    @given(documents)
    def test_render_then_parse_gives_the_document_back(document: Document) -> None:
        try:
            text = render(document)
        except AmbiguousDocumentError:
            # Refused only when written plainly it would not read back as itself.
            with contextlib.suppress(DocumentFormatError):
                assert parse(reference_render(document)) != document
            return
        assert text == reference_render(document)
        assert parse(text) == document
        assert render(parse(text)) == text

    # Mostly right, so that many texts parse; sometimes one wrong step.
    separators = st.sampled_from(["\n\n"] * 12 + ["\n", "\n\n\n", " \n\n"])

    @PROPERTY
    @given(
        st.sampled_from(["\n\n"] * 6 + ["\n", "", "\n\n\n"]),
        st.lists(st.tuples(line, separators), max_size=6),
        st.sampled_from(["Original url:"] * 4 + ["Original URL:", "x"]),
        st.sampled_from([f"<{URL}>"] * 4 + ["<>", "<a b>", URL]),
        st.sampled_from([""] * 6 + ["\n"]),
    )
    def test_parse_accepts_only_what_renders_back(
        start: str, values: list[tuple[str, str]], label: str, last: str, end: str
    ) -> None:
        text = start + "".join(value + separator for value, separator in values)
        text += f"{label}\n\n{last}{end}"
        assert_rejected_or_round_trips(text)

    @PROPERTY
    @given(st.lists(line, max_size=8), url)
    def test_well_formed_texts_parse(values: list[str], url_value: str) -> None:
        text = "\n\n" + "\n\n".join([*values, "Original url:", f"<{url_value}>"])
        try:
            document = parse(text)
        except DocumentFormatError as exc:
            # The only way to go wrong: a line in the date slot with a date's shape.
            assert "bad date line" in str(exc)
            return
        assert render(document) == text

    @PROPERTY
    @given(st.text())
    def test_parse_of_any_text_fails_cleanly_or_round_trips(text: str) -> None:
        assert_rejected_or_round_trips(text)

    @PROPERTY
    @given(st.text())
    def test_normalized_paragraphs_are_writable(text: str) -> None:
        paragraphs = normalize_paragraphs(text)
        for paragraph in paragraphs:
            assert paragraph == paragraph.strip()
            assert "  " not in paragraph
        # With every header present no paragraph is ambiguous, so all must render.
        document = doc(paragraphs=paragraphs)
        assert parse(render(document)) == document
        assert normalize_paragraphs("\n".join(paragraphs)) == paragraphs
        # Only whitespace, controls and invisible characters are lost.
        kept = (c for c in text if not c.isspace() and category(c) != "Cc" and c not in INVISIBLE)
        assert "".join(paragraphs).replace(" ", "") == "".join(kept)

    @PROPERTY
    @given(st.text(), st.booleans())
    def test_normalized_lines_are_writable(text: str, keep_spaces: bool) -> None:
        value = normalize_line(text, keep_spaces=keep_spaces)
        if not value:
            return
        document = doc(title=value, site_name=value)
        assert parse(render(document)) == document

    @PROPERTY
    @given(st.dates())
    def test_dates_round_trip(day: date) -> None:
        assert parse_date(format_date(day)) == day
