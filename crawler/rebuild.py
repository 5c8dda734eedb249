"""Compare a rebuilt corpus with the one it came from, document by document.

After ``archiver rebuild`` has crawled the ``Original url`` of every document of
a corpus folder, this module writes ``report.jsonl`` (one row per document, in
file name order) and the summary printed at the end: what each fetch gave, how
close the new text is to the old, whether title and date agree, and why the
documents that were not rebuilt were not. The summary names every rebuilt
document whose text, title or date differs from the old one's, and says what
differs; ``report.jsonl`` has the same in each row's ``differs``.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from crawler.index import Index
from crawler.inputs import DUPLICATE_PREFIX
from crawler.layout import REPORT_NAME, Layout
from crawler.outcomes import InputOutcome, TextOutcome
from crawler.text.document import Document, DocumentFormatError, parse

if TYPE_CHECKING:
    from pathlib import Path

#: Documents listed by name in the summary's list of failures; the report has them all.
SUMMARY_FAILURES = 50
#: Documents listed by name in the summary's list of differences; the report has them all.
SUMMARY_DIFFERENCES = 50
#: The text similarity (word F1) from which a rebuilt text counts as the same as the old one.
CLOSE_SIMILARITY = 0.9
_WORD_RE = re.compile(r"\w+")


@dataclass(slots=True)
class ReportRow:
    document: str
    url: str | None
    outcome: str  #: "rebuilt", "no text", "failed", "forbidden", "invalid" or "duplicate"
    reason: str | None = None
    status: int | None = None
    final_url: str | None = None
    archived_copy: str | None = None
    similarity: float | None = None
    old_words: int | None = None
    new_words: int | None = None
    title_old: str | None = None
    title_new: str | None = None
    title_match: bool | None = None
    date_old: str | None = None
    date_new: str | None = None
    date_match: bool | None = None
    #: What differs in a rebuilt document: "text", "title", "date" (empty when nothing does).
    differs: list[str] | None = None


def words(paragraphs: list[str]) -> Counter[str]:
    return Counter(_WORD_RE.findall(" ".join(paragraphs).casefold()))


def similarity(old: list[str], new: list[str]) -> float:
    """F1 of the two texts' word counts: 1.0 for the same words, 0.0 for none shared."""
    a, b = words(old), words(new)
    common = sum((a & b).values())
    if common == 0:
        return 1.0 if not a and not b else 0.0
    precision, recall = common / sum(b.values()), common / sum(a.values())
    return round(2 * precision * recall / (precision + recall), 4)


def same_title(old: str | None, new: str | None) -> bool | None:
    if old is None or new is None:
        return None
    return re.sub(r"\W+", "", old.casefold()) == re.sub(r"\W+", "", new.casefold())


def _read(path: Path) -> tuple[Document | None, str | None]:
    try:
        return parse(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, DocumentFormatError) as exc:
        return None, str(exc)


def _compare(row: ReportRow, old: Document | None, new: Document) -> None:
    row.title_new = new.title
    row.date_new = new.published.isoformat() if new.published else None
    if old is None:
        return
    row.similarity = similarity(old.paragraphs, new.paragraphs)
    row.old_words = sum(words(old.paragraphs).values())
    row.new_words = sum(words(new.paragraphs).values())
    row.title_match = same_title(old.title, new.title)
    if old.published is not None and new.published is not None:
        row.date_match = old.published == new.published
    row.differs = [
        name
        for name, differs in (
            ("text", row.similarity < CLOSE_SIMILARITY),
            ("title", row.title_match is False),
            ("date", row.date_match is False),
        )
        if differs
    ]


def _fetch_row(name: str, seed: Any, capture: Any) -> ReportRow:
    outcome = seed["outcome"] if seed is not None else InputOutcome.FAILED
    row = ReportRow(
        document=name,
        url=seed["url"] if seed is not None else None,
        outcome=outcome,
        reason=seed["reason"] if seed is not None else "not crawled (the crawl stopped early)",
        final_url=seed["final_url"] if seed is not None else None,
        archived_copy=seed["archived_copy"] if seed is not None else None,
    )
    if capture is not None:
        row.status = capture["status"]
        if outcome == InputOutcome.ARCHIVED and capture["text_outcome"] != TextOutcome.WRITTEN:
            row.outcome, row.reason = "no text", capture["text_reason"]
    return row


def build_report(corpus: Path, out: Path, crawl_id: int) -> list[ReportRow]:
    """One row per document of ``corpus``; copies duplicates' rebuilt text under their names."""
    index = Index(Layout(out).index)
    try:
        seeds = {
            row["document"]: row
            for row in index.query("SELECT * FROM seeds WHERE crawl_id = ?", (crawl_id,))
        }
        captures = {
            row["id"]: row
            for row in index.query("SELECT * FROM captures WHERE crawl_id = ?", (crawl_id,))
        }
    finally:
        index.close()
    text_dir = Layout(out).text_dir
    rows = []
    for path in sorted(corpus.glob("*.txt")):
        seed = seeds.get(path.name)
        capture = captures.get(seed["capture_id"]) if seed is not None else None
        row = _fetch_row(path.name, seed, capture)
        old, problem = _read(path)
        if old is not None:
            row.title_old = old.title
            row.date_old = old.published.isoformat() if old.published else None
        elif row.outcome in (InputOutcome.ARCHIVED, InputOutcome.DUPLICATE):
            row.reason = f"old document unreadable: {problem}"
        target = text_dir / path.name
        # Only texts this crawl wrote count: the folder may hold older rebuilds.
        written = (
            row.outcome == InputOutcome.ARCHIVED and seed is not None and bool(seed["text_path"])
        )
        if row.outcome == InputOutcome.DUPLICATE and seed is not None:
            first = seeds.get((seed["reason"] or "").removeprefix(DUPLICATE_PREFIX))
            if first is not None and first["text_path"] and first["document"] != path.name:
                shutil.copyfile(out / first["text_path"], target)
                written = True
        if written:
            new, problem = _read(target)
            if new is not None:
                _compare(row, old, new)
                row.outcome = "rebuilt"
        rows.append(row)
    return rows


def write_report(rows: list[ReportRow], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")


def describe_differences(row: ReportRow) -> str:
    """What differs in a rebuilt document, old to new: ``title 'A' -> 'B'; date ...``."""
    parts = []
    if "text" in (row.differs or []):
        parts.append(
            f"text similarity {row.similarity:.2f} ({row.old_words} -> {row.new_words} words)"
        )
    if "title" in (row.differs or []):
        parts.append(f"title {row.title_old!r} -> {row.title_new!r}")
    if "date" in (row.differs or []):
        parts.append(f"date {row.date_old} -> {row.date_new}")
    return "; ".join(parts)


def all_rebuilt(rows: list[ReportRow]) -> bool:
    """Whether every document of the corpus was rebuilt (its exit code is 0, else 3)."""
    return all(row.outcome == "rebuilt" for row in rows)


def summarize(rows: list[ReportRow], out: Path) -> str:
    """The terminal summary of a rebuild."""
    rebuilt = [r for r in rows if r.outcome == "rebuilt"]
    lines = [
        f"Rebuilt {len(rebuilt)} of {len(rows)} documents into {out / 'text'} "
        f"(report: {out / REPORT_NAME})"
    ]
    scores = [r.similarity for r in rebuilt if r.similarity is not None]
    if scores:
        close = sum(s >= CLOSE_SIMILARITY for s in scores)
        lines.append(
            f"  text similarity (word F1): median {statistics.median(scores):.2f}, "
            f"{close} of {len(scores)} at {CLOSE_SIMILARITY:.2f} or more"
        )
    titles = [r.title_match for r in rebuilt if r.title_match is not None]
    dates = [r.date_match for r in rebuilt if r.date_match is not None]
    lines.append(f"  titles agree: {sum(titles)} of {len(titles)} with a title on both sides")
    lines.append(f"  dates agree: {sum(dates)} of {len(dates)} with a date on both sides")
    copies = sum(r.archived_copy is not None for r in rebuilt)
    if copies:
        lines.append(f"  rebuilt from archived copies: {copies}")
    different = [r for r in rebuilt if r.differs]
    if different:
        lines.append(f"Rebuilt, but different ({len(different)}):")
        for row in different[:SUMMARY_DIFFERENCES]:
            lines.append(f"  {row.document}  {row.url or '-'}  {describe_differences(row)}")
        if len(different) > SUMMARY_DIFFERENCES:
            more = len(different) - SUMMARY_DIFFERENCES
            lines.append(f"  ... and {more} more in {REPORT_NAME} (field differs)")
    missing = [r for r in rows if r.outcome != "rebuilt"]
    if missing:
        lines.append(f"Not rebuilt ({len(missing)}):")
        for row in missing[:SUMMARY_FAILURES]:
            lines.append(f"  {row.document}  {row.url or '-'}  {row.outcome}: {row.reason}")
        if len(missing) > SUMMARY_FAILURES:
            lines.append(f"  ... and {len(missing) - SUMMARY_FAILURES} more in {REPORT_NAME}")
    return "\n".join(lines)
