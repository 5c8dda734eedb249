"""What ``archiver verify`` found, as data, and its rendering for people.

A :class:`FileReport` per file checked (per WARC inside a WACZ), each problem and
warning with the offset of its record and its record id where known. Problems
make a file fail; warnings do not. Reports keep at most
:data:`MAX_PROBLEMS_KEPT` entries of each kind but count them all, so that a
10 GB file with the same fault in every record stays cheap to hold and to read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Problems (and, separately, warnings) printed per file before "... and N more".
MAX_PROBLEMS_SHOWN = 20
#: Problems (and, separately, warnings) kept per report; the rest are only counted.
MAX_PROBLEMS_KEPT = 1000


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong (or, in a warnings list, worth knowing) about a file."""

    message: str
    offset: int | None = None  #: where the record starts (compressed offset in a .gz)
    record_id: str | None = None

    def __str__(self) -> str:
        where = []
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        if self.record_id:
            where.append(self.record_id)
        return f"{' '.join(where)}: {self.message}" if where else self.message


@dataclass(slots=True)
class FileReport:
    """The verdict on one file: its records, problems and warnings."""

    path: str  #: as given or found; ``name.wacz#archive/x.warc.gz`` inside a WACZ
    format: str = ""  #: "WARC/1.1" (versions joined by "+" if mixed), "ARC", "WACZ" or ""
    records: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    problem_count: int = 0  #: all problems found, kept or not
    warning_count: int = 0
    without_block_digest: int = 0  #: WARC records with no WARC-Block-Digest
    #: response, resource and conversion records with no WARC-Payload-Digest
    without_payload_digest: int = 0
    still_open: bool = False  #: a ``.open`` file, still being written (or abandoned)
    complete: bool = True  #: False when the file stopped being readable before its end

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def problem(
        self, message: str, offset: int | None = None, record_id: str | None = None
    ) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(Problem(message, offset, record_id))

    def warning(
        self, message: str, offset: int | None = None, record_id: str | None = None
    ) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_PROBLEMS_KEPT:
            self.warnings.append(Problem(message, offset, record_id))


@dataclass(slots=True)
class RunReport:
    """The verdicts on every file of one run (links between records span its files)."""

    files: list[FileReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.files)

    @property
    def records(self) -> int:
        return sum(report.records for report in self.files)

    @property
    def problem_count(self) -> int:
        return sum(report.problem_count for report in self.files)

    @property
    def warning_count(self) -> int:
        return sum(report.warning_count for report in self.files)


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


def _details(report: FileReport) -> str:
    parts = [report.format] if report.format else []
    parts.append(_count(report.records, "record"))
    if report.format == "ARC":
        parts.append("WARC checks do not apply")
    if report.warning_count:
        parts.append(_count(report.warning_count, "warning"))
    if report.without_block_digest:
        parts.append(f"{report.without_block_digest} without block digest")
    if report.without_payload_digest:
        parts.append(f"{report.without_payload_digest} without payload digest")
    if report.still_open:
        parts.append("still open")
    return ", ".join(parts)


def _entries(entries: list[Problem], total: int, prefix: str, shown: int, kind: str) -> list[str]:
    ordered = sorted(entries, key=lambda p: -1 if p.offset is None else p.offset)
    lines = [f"    {prefix}{entry}" for entry in ordered[:shown]]
    if total > len(lines):
        lines.append(f"    ... and {total - len(lines)} more {kind}s")
    return lines


def render_file(report: FileReport, *, shown: int = MAX_PROBLEMS_SHOWN) -> list[str]:
    """One line for the file, then its problems and warnings, indented."""
    verdict = "OK" if report.ok else _count(report.problem_count, "problem")
    lines = [f"{report.path}: {verdict} ({_details(report)})"]
    lines += _entries(report.problems, report.problem_count, "", shown, "problem")
    lines += _entries(report.warnings, report.warning_count, "warning: ", shown, "warning")
    return lines


def render_summary(run: RunReport) -> str:
    """The last line: how many files and records, how many failed, how many warnings."""
    files = len(run.files)
    if not files:
        return "no WARC, ARC or WACZ file to check"
    failed = sum(1 for report in run.files if not report.ok)
    text = f"{_count(files, 'file')}, {_count(run.records, 'record')}: "
    if failed:
        text += f"{failed} with problems ({_count(run.problem_count, 'problem')}), "
        text += f"{files - failed} OK"
    else:
        text += "all OK"
    return f"{text}; {_count(run.warning_count, 'warning')}"


def render_report(run: RunReport, *, shown: int = MAX_PROBLEMS_SHOWN) -> str:
    """The human report: each file's verdict with its problems, then a summary line."""
    lines: list[str] = []
    for report in run.files:
        lines += render_file(report, shown=shown)
    lines.append(render_summary(run))
    still_open = sum(1 for report in run.files if report.still_open)
    if still_open:
        lines.append(
            f"{_count(still_open, 'file')} still open: unless a crawl is writing "
            f"{'it' if still_open == 1 else 'them'}, `archiver recover DIR` closes "
            f"{'it' if still_open == 1 else 'them'} (a torn last record cut off and kept "
            "aside) and indexes the records the index lacks"
        )
    return "\n".join(lines)
