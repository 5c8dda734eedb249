"""One archive of many: ``archiver merge SOURCE... -o DIR`` joins archive folders into DIR.

Workers that crawl one list each write an archive folder of their own (their
own WARC files, with the worker's id in their names, their own index and text).
A merge makes one archive of them, as if one machine had crawled the list:

- ``DIR/warc`` holds every closed WARC file of every source, under its own
  name (and sub-folder), as a hard link when source and DIR share a file
  system, else as a copy (written beside, synced, then renamed). Never a
  symbolic link: the merged archive stays whole when the worker folders are
  removed, and a closed WARC file is never written again, so a link is as
  good as a copy. ``.open`` files (a crawl still writing, or a crawl that was
  killed: ``archiver recover SOURCE`` closes them) are left out and listed,
  exit code 1: the entries a killed worker acknowledged are in them.
  A name already in DIR/warc is the same file when it is the same inode, or
  has the same size and first :data:`HEAD_BYTES`; any other file of that name
  is a conflict: not merged, reported, exit code 1.
- ``DIR/index.sqlite`` and ``DIR/indexes/index.cdxj`` are rebuilt from all of
  DIR/warc, as ``archiver reindex`` does (:class:`crawler.reindex.RecordIndexer`):
  each worker's crawls stay crawls of their own. Crawls are numbered by
  :func:`merge_numbering`, and an input entry that two workers fetched (a
  worker killed after its fetch, its lease handed to another) keeps one seed
  row, by :func:`latest_claim`; both captures stay.
- ``DIR/text`` gets the text file of each name the merged index names, made
  from the text's ``conversion`` record (the WARC files are the source of
  truth: a worker's lost or unsynced ``text/`` does not matter), checked
  against the index's text digest. A file that already holds that text is left
  alone; files the index does not name are left alone.
- ``DIR/merge.json`` (:data:`MANIFEST_NAME`) says which files came from which
  source and which number each crawl got, so that merging again keeps the
  numbers and adds only what is new: with nothing new, a merge changes nothing.

DIR must be new, empty, or the output of an earlier merge: an archive folder a
crawl wrote (an index or WARC files, and no manifest) is refused, since its
own index would be replaced. Crawls into a merged folder are fine (recrawls,
``--resume``, replay): their files are DIR's own and the next merge keeps them.

The caller holds DIR's lock. Sources are not locked: only their closed WARC
files are read, which no crawl changes, so workers may go on while they are
merged. Each merge reads every WARC file of DIR (the index is rebuilt whole):
its cost grows with the archive, as ``archiver reindex``'s does, and the texts
of all conversion records are held in memory while it runs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.cdxj import ARCHIVE_SUFFIXES, archive_files, write_sorted
from crawler.index import LATEST_TEXT_SEEDS, Index
from crawler.layout import Layout
from crawler.reindex import FoundCrawl, RecordIndexer, ReindexReport
from crawler.text.document import write_document
from crawler.warc.records import sha1_digest
from crawler.warc.writer import OPEN_SUFFIX

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from crawler.reindex import Numbering
    from crawler.warc.reader import StoredRecord

#: The merge's own note in the merged folder: sources, files, crawl numbers.
MANIFEST_NAME = "merge.json"
MANIFEST_FORMAT = 1
#: Bytes compared, with the size, to tell a WARC file already merged from another of its name.
HEAD_BYTES = 65536
#: Lines of each kind of problem the summary shows before "... and N more".
SHOWN_PROBLEMS = 20


class MergeError(Exception):
    """The merge cannot start (a usage error): the message is for the user."""


@dataclass(slots=True)
class MergeReport:
    """What a merge did, and what it could not do."""

    output: Path
    sources: list[Path] = field(default_factory=list)
    linked: int = 0
    copied: int = 0
    present: int = 0
    #: ``.open`` files of the sources, left out.
    open_files: list[str] = field(default_factory=list)
    #: WARC files not merged: a file of the same name and other content is in DIR/warc.
    conflicts: list[str] = field(default_factory=list)
    #: WARC files that could not be linked or copied.
    copy_errors: list[str] = field(default_factory=list)
    index: ReindexReport = field(default_factory=ReindexReport)
    seeds_superseded: int = 0
    texts_written: int = 0
    texts_in_place: int = 0
    text_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every file was merged and read whole, and every text made.

        An ``.open`` file left out is not: a worker killed and never started again has
        acknowledged entries whose records are in it, missing from the merge until its
        folder is recovered.
        """
        return not (
            self.open_files
            or self.conflicts
            or self.copy_errors
            or self.index.problems
            or self.text_problems
        )

    def render(self) -> str:
        index = self.index
        lines = [
            f"sources: {len(self.sources)}",
            f"warc files: {self.linked} linked, {self.copied} copied, {self.present} already there",
            f"records: {index.records} in {index.files} files ({len(index.foreign_files)} foreign)",
            f"crawls: {index.crawls}",
            f"captures: {index.captures}",
            f"seeds: {index.seeds - self.seeds_superseded} "
            f"({self.seeds_superseded} superseded: an entry fetched again by another crawl)",
            f"text files: {self.texts_written} written, {self.texts_in_place} already there",
            f"index: {self.output / 'index.sqlite'}",
        ]
        if index.cdxj is not None:
            lines.append(f"cdxj: {index.cdxj}")
        lines.extend(
            _listed(
                "not merged (still open: a crawl is writing it, or was killed; let it end, "
                "or run archiver recover on its folder, then merge again)",
                self.open_files,
            )
        )
        lines.extend(_listed("not merged (another file of that name is in place)", self.conflicts))
        lines.extend(_listed("not merged", self.copy_errors))
        lines.extend(_listed("unreadable", [str(p) for p in index.problems]))
        lines.extend(_listed("text not made", self.text_problems))
        lines.extend(f"not recovered: {note}" for note in index.unrecovered)
        return "\n".join(lines)


def _listed(label: str, items: list[str]) -> list[str]:
    lines = [f"{label}: {item}" for item in items[:SHOWN_PROBLEMS]]
    if len(items) > SHOWN_PROBLEMS:
        lines.append(f"{label}: ... and {len(items) - SHOWN_PROBLEMS} more")
    return lines


# -- the rules ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeedClaim:
    """A seed row that claims an input position, with its capture's time."""

    rowid: int
    crawl_id: int
    position: int
    fetched_at: str | None  #: of the row's capture; None for an entry with no capture


def latest_claim(claims: Sequence[SeedClaim]) -> SeedClaim:
    """The one seed row a run keeps for an input position: the latest capture wins.

    A row with a capture beats one without (an entry recorded but never fetched);
    among rows with captures, the latest ``fetched_at``; then the higher crawl
    number, then the later row.
    """
    return max(
        claims,
        key=lambda c: (c.fetched_at is not None, c.fetched_at or "", c.crawl_id, c.rowid),
    )


@dataclass(frozen=True, slots=True)
class CrawlSpan:
    """A crawl as runs are made of it: what it crawled, and when."""

    number: int
    spider: str
    input: str | None
    started_at: str
    finished_at: str | None
    finished: bool  #: it reached its end (finish reason "finished")


def runs_of(crawls: Iterable[CrawlSpan]) -> list[list[int]]:
    """The crawls (by number) that are one run of an input, two or more each.

    Crawls of the same spider and input are one run when their time spans
    overlap: workers crawling one list at once. A crawl that did not reach its
    end also joins the next crawl of its input, which took over its entries. A
    later crawl of the input after a finished run (a recrawl) is a run of its own.
    """
    by_input: dict[tuple[str, str | None], list[CrawlSpan]] = defaultdict(list)
    for crawl in crawls:
        by_input[(crawl.spider, crawl.input)].append(crawl)
    runs: list[list[int]] = []
    for spans in by_input.values():
        spans.sort(key=lambda s: (_moment(s.started_at), s.number))
        current: list[int] = []
        reach: datetime | None = None
        joins_next = False
        for span in spans:
            start = _moment(span.started_at)
            if current and not joins_next and (reach is None or start > reach):
                runs.append(current)
                current = []
                reach = None
            current.append(span.number)
            end = _moment(span.finished_at) if span.finished_at else start
            reach = end if reach is None else max(reach, end)
            joins_next = not span.finished
        runs.append(current)
    return [run for run in runs if len(run) > 1]


def _moment(text: str | None) -> datetime:
    """A time the index holds (ISO 8601; UTC when it has no zone); the earliest if unreadable."""
    try:
        moment = datetime.fromisoformat((text or "").replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def crawl_key(crawl: FoundCrawl) -> str:
    """What names a crawl across merges: its uuid (foreign files: the file)."""
    if crawl.uuid:
        return crawl.uuid
    if crawl.foreign_file is not None:
        return f"file:{crawl.foreign_file}"
    return f"old:{crawl.number}:{crawl.spider}:{crawl.first_date}"


def merge_numbering(known: dict[str, int], own: set[int]) -> Numbering:
    """Crawl numbers of a merged index, the same at every merge.

    A crawl an earlier merge numbered keeps that number; a crawl of DIR's own
    (by provisional key: a recrawl into the merged folder) keeps the number its
    records give when it is free; every other crawl follows the highest, in
    the order the crawls started.
    """

    def number(crawls: list[FoundCrawl]) -> dict[int, int]:
        numbers: dict[int, int] = {}
        taken: set[int] = set()
        for crawl in crawls:
            wanted = known.get(crawl_key(crawl))
            if wanted is not None and wanted not in taken:
                numbers[crawl.key] = wanted
                taken.add(wanted)
        for crawl in crawls:
            wanted = crawl.number
            if crawl.key in own and crawl.key not in numbers and wanted and wanted not in taken:
                numbers[crawl.key] = wanted
                taken.add(wanted)
        rest = [crawl for crawl in crawls if crawl.key not in numbers]
        rest.sort(key=lambda c: (_moment(_started(c)), crawl_key(c)))
        following = max(taken, default=0)
        for crawl in rest:
            following += 1
            numbers[crawl.key] = following
        return numbers

    return number


def _started(crawl: FoundCrawl) -> str:
    return str((crawl.start or {}).get("started_at") or crawl.first_date or "")


# -- the manifest ------------------------------------------------------------


@dataclass(slots=True)
class Manifest:
    """``DIR/merge.json``: what earlier merges put in DIR."""

    sources: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  #: WARC file (under warc/) -> source
    crawls: dict[str, int] = field(default_factory=dict)  #: crawl key -> number

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"not a merge manifest of format {MANIFEST_FORMAT}")
            return cls(
                sources=[str(s) for s in data.get("sources", [])],
                files={str(k): str(v) for k, v in data.get("files", {}).items()},
                crawls={str(k): int(v) for k, v in data.get("crawls", {}).items()},
            )
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise MergeError(f"cannot read {path}: {exc}") from exc

    def save(self, path: Path) -> None:
        data = {
            "format": MANIFEST_FORMAT,
            "sources": self.sources,
            "files": dict(sorted(self.files.items())),
            "crawls": dict(sorted(self.crawls.items(), key=lambda item: item[1])),
        }
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, ensure_ascii=False)
                out.write("\n")
            os.replace(name, path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise


# -- checks ------------------------------------------------------------------


def check_folders(sources: Sequence[Path], output: Path) -> None:
    """MergeError when a source is not an archive folder or DIR cannot be merged into."""
    manifest = output / MANIFEST_NAME
    for source in sources:
        if not source.is_dir():
            raise MergeError(f"no such archive folder: {source}")
        if not (source / "warc").is_dir():
            raise MergeError(f"not an archive folder (no warc folder): {source}")
        if output.exists() and source.resolve() == output.resolve():
            raise MergeError(f"{source} is the output folder: give it as -o only")
    if output.exists() and not output.is_dir():
        raise MergeError(f"not a folder: {output}")
    if not sources and not manifest.is_file():
        raise MergeError("give the archive folders to merge")
    if output.is_dir() and not manifest.is_file():
        layout = Layout(output)
        if layout.index.exists() or archive_files(layout.warc_dir, with_open=True):
            raise MergeError(
                f"{output} is the archive folder of a crawl, not of a merge: "
                "merge it with the others into a new folder"
            )


# -- the merge ---------------------------------------------------------------


class _MergeIndexer(RecordIndexer):
    """A RecordIndexer that also notes the files of each crawl (by provisional key)."""

    def __init__(self, index: Index, base: Path, report: ReindexReport) -> None:
        super().__init__(index, base, report)
        self.files_of: dict[int, set[str]] = defaultdict(set)

    def _crawl_of(self, first: StoredRecord, filename: str) -> FoundCrawl:
        crawl = super()._crawl_of(first, filename)
        self.files_of[crawl.key].add(filename)
        return crawl


def merge(sources: Sequence[Path], output: Path) -> MergeReport:
    """Merge the archive folders ``sources`` into ``output`` (see the module's docstring).

    The caller has run :func:`check_folders` and holds ``output``'s lock.
    """
    layout = Layout(output)
    layout.root.mkdir(parents=True, exist_ok=True)
    manifest_path = layout.root / MANIFEST_NAME
    manifest = Manifest.load(manifest_path) if manifest_path.is_file() else Manifest()
    report = MergeReport(output=output, sources=list(sources))
    for source in sources:
        _gather(source, layout, manifest, report)
        if str(source.resolve()) not in manifest.sources:
            manifest.sources.append(str(source.resolve()))
    conversions = _build_index(layout, manifest, report)
    _write_texts(layout, conversions, report)
    manifest.save(manifest_path)
    return report


def _gather(source: Path, layout: Layout, manifest: Manifest, report: MergeReport) -> None:
    """Link or copy the closed WARC files of ``source`` into ``layout``'s warc folder."""
    base = source / "warc"
    for path in archive_files(base, with_open=True):
        relative = path.relative_to(base).as_posix()
        if not path.name.lower().endswith(ARCHIVE_SUFFIXES):
            assert path.name.endswith(OPEN_SUFFIX)
            report.open_files.append(f"{path} (archiver recover {source})")
            continue
        target = layout.warc_dir / relative
        try:
            if target.exists() or target.is_symlink():
                if _same_file(path, target):
                    report.present += 1
                    manifest.files.setdefault(relative, str(source.resolve()))
                else:
                    report.conflicts.append(f"{path} (DIR has {target})")
                continue
            if _place(path, target):
                report.linked += 1
            else:
                report.copied += 1
        except OSError as exc:
            report.copy_errors.append(f"{path}: {exc.strerror or exc}")
            continue
        manifest.files[relative] = str(source.resolve())


def _same_file(one: Path, other: Path) -> bool:
    """Whether ``other`` is ``one`` or a copy of it (same size and first bytes)."""
    if os.path.samefile(one, other):
        return True
    if one.stat().st_size != other.stat().st_size:
        return False
    with one.open("rb") as a, other.open("rb") as b:
        return a.read(HEAD_BYTES) == b.read(HEAD_BYTES)


def _place(source: Path, target: Path) -> bool:
    """A hard link of ``source`` at ``target`` (True), else a synced copy (False)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
        return True
    except OSError:
        pass  # another file system, or one without hard links: a copy
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        with source.open("rb") as reader, temporary.open("xb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())
        shutil.copystat(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return False


def _build_index(layout: Layout, manifest: Manifest, report: MergeReport) -> dict[str, str]:
    """Rebuild DIR's index and CDXJ from DIR/warc; return conversion texts by record id."""
    fd, name = tempfile.mkstemp(prefix=".index.", suffix=".sqlite.tmp", dir=layout.root)
    os.close(fd)
    temporary = Path(name)
    temporary.unlink()  # SQLite creates it; an empty file is not a database
    try:
        index = Index(temporary)
        builder = _MergeIndexer(index, layout.warc_dir, report.index)
        lines = builder.read(archive_files(layout.warc_dir, with_open=True))
        own = {
            key
            for key, files in builder.files_of.items()
            if any(name not in manifest.files for name in files)
        }
        known = manifest.crawls
        numbering = merge_numbering(known, own)
        numbers = numbering(builder.crawls)
        builder.finish(lambda _crawls: numbers)
        index.close()  # commits
        manifest.crawls = {crawl_key(c): numbers[c.key] for c in builder.crawls}
        report.seeds_superseded = _supersede_seeds(temporary)
        for sidecar in _sidecars(layout.index):
            sidecar.unlink(missing_ok=True)
        os.replace(temporary, layout.index)
    finally:
        for leftover in (temporary, *_sidecars(temporary)):
            leftover.unlink(missing_ok=True)
    report.index.index = layout.index
    report.index.cdxj = write_sorted(lines, layout.cdxj)
    return {record_id: text for record_id, text in builder.conversions.values()}


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _supersede_seeds(path: Path) -> int:
    """Keep one seed row per input position in each run (:func:`latest_claim`)."""
    db = sqlite3.connect(path)
    try:
        spans = [
            CrawlSpan(row[0], row[1], row[2], row[3], row[4], row[5] == "finished")
            for row in db.execute(
                "SELECT id, spider, input, started_at, finished_at, finish_reason FROM crawls"
            )
        ]
        removed: list[int] = []
        for run in runs_of(spans):
            marks = ", ".join("?" * len(run))
            claims: dict[int, list[SeedClaim]] = defaultdict(list)
            for rowid, crawl_id, position, fetched_at in db.execute(
                "SELECT s.rowid, s.crawl_id, s.position, c.fetched_at FROM seeds s "
                "LEFT JOIN captures c ON c.id = s.capture_id "
                f"WHERE s.crawl_id IN ({marks}) AND s.position IS NOT NULL",
                run,
            ):
                claims[position].append(SeedClaim(rowid, crawl_id, position, fetched_at))
            for rows in claims.values():
                if len(rows) > 1:
                    kept = latest_claim(rows)
                    removed.extend(c.rowid for c in rows if c is not kept)
        db.executemany("DELETE FROM seeds WHERE rowid = ?", [(rowid,) for rowid in removed])
        db.commit()
        return len(removed)
    finally:
        db.close()


# One row per text file name, as ``archiver extract`` picks it: the latest crawl's.
_TEXTS = f"""
SELECT s.text_path, c.text_digest, c.conversion_record_id
FROM ({LATEST_TEXT_SEEDS}) AS s JOIN captures AS c ON c.id = s.capture_id
WHERE s.latest = 1
ORDER BY s.text_path
"""


def _write_texts(layout: Layout, conversions: dict[str, str], report: MergeReport) -> None:
    """Put each text file the merged index names in DIR/text, from its conversion record."""
    db = sqlite3.connect(layout.index)
    try:
        rows: list[Any] = list(db.execute(_TEXTS))
    finally:
        db.close()
    for text_path, digest, conversion_id in rows:
        name = Path(text_path).name
        target = layout.text_dir / name
        if digest and _holds(target, digest):
            report.texts_in_place += 1
            continue
        text = conversions.get(conversion_id or "")
        if text is None:
            report.text_problems.append(
                f"{text_path}: its conversion record {conversion_id} is in none of the files"
            )
            continue
        data = text.encode("utf-8")
        if digest and sha1_digest(data) != digest:
            report.text_problems.append(
                f"{text_path}: conversion record {conversion_id} does not hold the text "
                f"the index names ({digest})"
            )
            continue
        try:
            layout.text_dir.mkdir(parents=True, exist_ok=True)
            write_document(layout.text_dir, name, text, durable=False)
        except (OSError, ValueError) as exc:
            report.text_problems.append(f"{text_path}: {exc}")
            continue
        report.texts_written += 1


def _holds(path: Path, digest: str) -> bool:
    try:
        return sha1_digest(path.read_bytes()) == digest
    except OSError:
        return False
