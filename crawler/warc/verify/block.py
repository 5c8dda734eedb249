"""The block of one record: read it as stored, check its length and its digests.

The block digest covers the block exactly as stored. The payload digest covers
the payload: the block itself, or for ``application/http`` the entity body
(de-chunked, still content-coded). A revisit's payload digest names the
original's payload, and a segment's the reassembled one, so neither is
recomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.warc.verify.digest import Digest, DigestError, UnsupportedDigest, parse_digest
from crawler.warc.verify.http import Hashes, HttpPayload

if TYPE_CHECKING:
    from warcio.recordloader import ArcWarcRecord

    from crawler.warc.verify.report import FileReport

#: Bytes of a block read (and hashed) at a time.
BLOCK_READ_SIZE = 1 << 16
#: Record types whose payload is the captured content, so a missing payload digest is noted.
CONTENT_TYPES = frozenset({"response", "resource", "conversion"})

Fields = dict[str, list[str]]


class BadGzip(Exception):
    """The member holding a record does not inflate: warcio cannot read past it."""


@dataclass(frozen=True, slots=True)
class Here:
    """The record being checked: what is found about it goes to its file's report."""

    report: FileReport
    offset: int | None
    record_id: str | None = None

    def problem(self, message: str) -> None:
        self.report.problem(message, self.offset, self.record_id)

    def warning(self, message: str) -> None:
        self.report.warning(message, self.offset, self.record_id)


def first(fields: Fields, name: str) -> str | None:
    values = fields.get(name.lower())
    return values[0] if values else None


def read_block(
    record: ArcWarcRecord, hashes: Hashes, http: HttpPayload | None, gzip_errors: list[str]
) -> Hashes:
    """Hash the block as it streams by; BadGzip if its member does not inflate."""
    errors = len(gzip_errors)
    while True:
        data = record.raw_stream.read(BLOCK_READ_SIZE)
        if not data:
            break
        hashes.update(data)
        if http is not None:
            http.feed(data)
    if len(gzip_errors) > errors:
        raise BadGzip(gzip_errors[-1])
    if http is not None:
        http.close()
    return hashes


def check_length(record: ArcWarcRecord, hashes: Hashes, here: Here) -> bool:
    """False (and a problem) when the block is shorter than its record says."""
    expected = record.length
    if isinstance(expected, int) and hashes.length < expected:
        here.problem(
            f"truncated record: its length is {expected} bytes but only {hashes.length}"
            " are there before the end of the file (or of its gzip member)"
        )
        return False
    return True


def check_block(record: ArcWarcRecord, fields: Fields, here: Here, gzip_errors: list[str]) -> bool:
    """Check the block's length and digests; False if it is cut short."""
    block_digests = _digests(fields, "WARC-Block-Digest", here)
    if "warc-block-digest" not in fields:
        here.report.without_block_digest += 1
    payload_digests = _payload_digests(fields, here)
    algorithms = {d.algorithm for d in block_digests}
    http = None
    if _is_http_message(fields):
        # Parsed even without a payload digest: broken chunk framing is worth a word.
        http = HttpPayload({d.algorithm for d in payload_digests})
    else:
        algorithms |= {d.algorithm for d in payload_digests}
    hashes = read_block(record, Hashes(algorithms), http, gzip_errors)
    if not check_length(record, hashes, here):
        return False  # a cut-off block cannot match its digests; the cut is the news
    for digest in block_digests:
        computed = hashes.digest(digest.algorithm)
        if not digest.matches(computed):
            here.problem(
                f"block digest mismatch: WARC-Block-Digest {digest.text},"
                f" block hashes to {digest.encode(computed)}"
            )
    if http is not None:
        _check_http(http, "warc-truncated" in fields, bool(hashes.length), here)
    for digest in payload_digests:
        if http is not None:
            _check_http_payload(digest, http, here)
        elif not digest.matches(computed := hashes.digest(digest.algorithm)):
            here.problem(_payload_mismatch(digest, computed, "payload"))
    return True


def _is_http_message(fields: Fields) -> bool:
    """A request or response holding an HTTP message (a revisit's payload is elsewhere)."""
    record_type = (first(fields, "WARC-Type") or "").lower()
    content_type = (first(fields, "Content-Type") or "").lower()
    return record_type in ("request", "response") and content_type.startswith("application/http")


def _payload_digests(fields: Fields, here: Here) -> list[Digest]:
    """The payload digests to recompute (none for a revisit or a segment)."""
    record_type = (first(fields, "WARC-Type") or "").lower()
    digests = _digests(fields, "WARC-Payload-Digest", here)
    if record_type in CONTENT_TYPES and "warc-payload-digest" not in fields:
        here.report.without_payload_digest += 1
    if record_type == "revisit":
        return []  # it names the original's payload, which is not here
    if digests and "warc-segment-number" in fields:
        here.warning(
            "segmented record: payload digest not checked (it covers the reassembled payload)"
        )
        return []
    return digests


def _digests(fields: Fields, header: str, here: Here) -> list[Digest]:
    digests = []
    for value in fields.get(header.lower(), []):
        try:
            digests.append(parse_digest(value))
        except UnsupportedDigest as exc:
            here.warning(f"{header}: {exc}")
        except DigestError as exc:
            here.problem(f"{header}: {exc}")
    return digests


def _payload_mismatch(digest: Digest, computed: bytes, what: str) -> str:
    return (
        f"payload digest mismatch: WARC-Payload-Digest {digest.text},"
        f" {what} hashes to {digest.encode(computed)}"
    )


def _check_http(http: HttpPayload, truncated: bool, has_block: bool, here: Here) -> None:
    """Warnings about the HTTP message itself: its header end and its chunk framing."""
    if http.head_error is not None:
        here.warning(http.head_error)
        return
    if has_block and not http.head_done:
        # As warcio reads it: a header cut short leaves an empty payload.
        here.warning("HTTP header not ended by an empty line")
    chunking = http.dechunker
    if chunking is None:
        return
    if chunking.error is not None:
        hint = (
            ": de-chunked by the writer, which kept the header?" if chunking.error_at == 0 else ""
        )
        here.warning(
            "HTTP header says Transfer-Encoding: chunked but the body is not chunked"
            f" ({chunking.error}){hint}"
        )
    elif not chunking.done and not truncated and http.framed.length:
        here.warning("chunked body ends before its last chunk")
    elif chunking.extra:
        here.warning(f"{chunking.extra} bytes after the last chunk of the body")


def _check_http_payload(digest: Digest, http: HttpPayload, here: Here) -> None:
    if http.head_error is not None:
        return  # said once by _check_http; the payload cannot be told from the header
    entity = http.entity.digest(digest.algorithm)
    if digest.matches(entity):
        return
    framed = http.framed.digest(digest.algorithm)
    chunking = http.dechunker
    if chunking is not None and chunking.error is not None:
        # No de-chunked form exists, so a digest of the bytes as stored is fair.
        if not digest.matches(framed):
            here.problem(_payload_mismatch(digest, framed, "body as stored"))
    elif chunking is not None and digest.matches(framed):
        here.problem(
            "WARC-Payload-Digest covers the chunked transfer encoding, not the de-chunked"
            f" entity body (which hashes to {digest.encode(entity)})"
        )
    else:
        here.problem(_payload_mismatch(digest, entity, "entity body"))
