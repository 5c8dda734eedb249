"""Build the WARC records of the archive (WARC/1.1) from plain data.

Digests are computed here, over the exact bytes stored: the block digest over
the whole block, the payload digest over the entity body alone (already
de-chunked, still content-coded). warcio frames and serialises the records.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from io import BytesIO
from typing import TYPE_CHECKING

from warcio.recordbuilder import RecordBuilder
from warcio.statusandheaders import StatusAndHeaders

from crawler.warc.exchange import Exchange, SentRequest, request_block, response_block

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from warcio.recordloader import ArcWarcRecord

WARC_VERSION = "WARC/1.1"
HTTP_REQUEST_TYPE = "application/http; msgtype=request"
HTTP_RESPONSE_TYPE = "application/http; msgtype=response"
WARC_FIELDS_TYPE = "application/warc-fields"
TEXT_TYPE = "text/plain; charset=utf-8"
JSON_TYPE = "application/json"
#: The target URI of a page's text: a URI of its own, so that replay tools
#: never serve the text for the page (pywb indexes conversion records under
#: their target URI). Browsertrix names extracted text the same way.
TEXT_URI_PREFIX = "urn:text:"
#: The target URIs of the archiver's own metadata records (JSON blocks): what
#: the index holds that no HTTP record holds, so that it can be rebuilt.
CRAWL_URI_PREFIX = "urn:archiver:crawl:"  #: + crawl UUID: its start and its end
SEED_URI_PREFIX = "urn:archiver:seed:"  #: + crawl UUID: what became of an input entry
TEXT_OUTCOME_URI_PREFIX = "urn:archiver:text:"  #: + page URL: what its text extraction gave
#: + record id: a capture row whose record is in another archive (a replay crawl)
CAPTURE_URI_PREFIX = "urn:archiver:capture:"
#: The warcinfo field that names the crawl a WARC file belongs to.
CRAWL_FIELD = "archiver-crawl"

_builder = RecordBuilder(warc_version=WARC_VERSION)


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warc_date(moment: datetime) -> str:
    """WARC/1.1 date: UTC, with microseconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha1_digest(*parts: bytes) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        digest.update(part)
    return "sha1:" + base64.b32encode(digest.digest()).decode("ascii")


class RawHttpHeaders(StatusAndHeaders):  # type: ignore[misc]
    """HTTP headers that warcio writes back exactly as they were received.

    warcio re-serialises parsed headers (and %-encodes non-ASCII values); an
    archive must keep the bytes, so the buffer is fixed at construction.
    """

    def __init__(self, block: bytes, *, is_request: bool) -> None:
        head, *lines = block.decode("latin-1").split("\r\n")
        headers = [tuple(line.split(":", 1)) for line in lines if ":" in line]
        protocol, _, statusline = head.partition(" ")
        if is_request:
            super().__init__(head, headers, is_http_request=True)
        else:
            super().__init__(statusline, headers, protocol=protocol)
        self.headers_buff = block

    def compute_headers_buffer(self, header_filter: object = None) -> None:
        """Keep the received bytes (warcio calls this before writing)."""


def _record(
    record_type: str,
    *,
    record_id: str,
    date: datetime,
    url: str,
    fields: Iterable[tuple[str, str]] = (),
    content_type: str,
    payload: bytes,
    http_block: bytes | None = None,
    is_request: bool = False,
    payload_digest: bool | str = True,
) -> ArcWarcRecord:
    """A record with the usual header order; ``fields`` with empty values are left out.

    ``payload_digest`` is True to compute the payload's digest, False for none, or
    the digest itself when the caller has it already (the payload is not read again).
    """
    named = [
        ("WARC-Type", record_type),
        ("WARC-Record-ID", record_id),
        ("WARC-Date", warc_date(date)),
        ("WARC-Target-URI", url),
        *fields,
    ]
    headers = StatusAndHeaders("", [(k, v) for k, v in named if v], protocol=WARC_VERSION)
    headers.add_header("WARC-Block-Digest", sha1_digest(http_block or b"", payload))
    if payload_digest:
        digest = sha1_digest(payload) if payload_digest is True else payload_digest
        headers.add_header("WARC-Payload-Digest", digest)
    headers.add_header("Content-Type", content_type)
    http_headers = None if http_block is None else RawHttpHeaders(http_block, is_request=is_request)
    return _builder.create_warc_record(
        url,
        record_type,
        payload=BytesIO(payload),
        length=len(payload),
        warc_content_type=content_type,
        warc_headers=headers,
        http_headers=http_headers,
    )


def request_record(exchange: SentRequest, *, record_id: str, concurrent_to: str) -> ArcWarcRecord:
    return _record(
        "request",
        record_id=record_id,
        date=exchange.started,
        url=exchange.url,
        fields=[("WARC-Concurrent-To", concurrent_to)],
        content_type=HTTP_REQUEST_TYPE,
        payload=exchange.request_body,
        http_block=request_block(exchange),
        is_request=True,
    )


def response_record(
    exchange: Exchange, *, record_id: str, concurrent_to: str, payload_digest: str | None = None
) -> ArcWarcRecord:
    """The response as received; ``payload_digest``, when known, spares reading the body again."""
    return _record(
        "response",
        record_id=record_id,
        date=exchange.started,
        url=exchange.url,
        fields=[
            ("WARC-IP-Address", exchange.ip_address or ""),
            ("WARC-Concurrent-To", concurrent_to),
            ("WARC-Truncated", exchange.truncated or ""),
        ],
        content_type=HTTP_RESPONSE_TYPE,
        payload=exchange.body,
        http_block=response_block(exchange),
        payload_digest=payload_digest or True,
    )


#: WARC-Profile URIs of the two revisit kinds (WARC/1.1, section 6.7).
REVISIT_PROFILE_URI = "http://netpreserve.org/warc/1.1/revisit/"


def revisit_record(
    exchange: Exchange,
    *,
    record_id: str,
    concurrent_to: str,
    profile: str,
    payload_digest: str | None,
    refers_to: str,
    refers_to_url: str,
    refers_to_date: str,
) -> ArcWarcRecord:
    """A ``revisit`` record: the response head as it came, the body left out.

    ``profile`` is ``identical-payload-digest`` (a 200 whose payload equals the
    original's) or ``server-not-modified`` (a 304: its head is the block, what
    really happened). All three references name the original *response*: pywb
    finds it only by ``WARC-Refers-To-Target-URI`` and ``-Date``, others by id.
    """
    return _record(
        "revisit",
        record_id=record_id,
        date=exchange.started,
        url=exchange.url,
        fields=[
            ("WARC-Profile", REVISIT_PROFILE_URI + profile),
            ("WARC-IP-Address", exchange.ip_address or ""),
            ("WARC-Concurrent-To", concurrent_to),
            ("WARC-Refers-To", refers_to),
            ("WARC-Refers-To-Target-URI", refers_to_url),
            ("WARC-Refers-To-Date", refers_to_date),
            # The block is the head alone: the payload is the original's.
            ("WARC-Truncated", "length"),
            ("WARC-Payload-Digest", payload_digest or ""),
        ],
        content_type=HTTP_RESPONSE_TYPE,
        payload=b"",
        http_block=response_block(exchange),
        payload_digest=False,
    )


def warc_fields(fields: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    """An ``application/warc-fields`` block; empty values are left out."""
    items = fields.items() if hasattr(fields, "items") else fields
    return b"".join(
        f"{name}: {value}\r\n".encode() for name, value in items if value not in ("", None)
    )


def parse_warc_fields(block: bytes) -> dict[str, str]:
    """The fields of an ``application/warc-fields`` block (the first of a repeated name)."""
    fields: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            fields.setdefault(name.strip(), value.strip())
    return fields


def warcinfo_record(
    *, filename: str, fields: Mapping[str, str], date: datetime, record_id: str
) -> ArcWarcRecord:
    return _record(
        "warcinfo",
        record_id=record_id,
        date=date,
        url="",
        fields=[("WARC-Filename", filename)],
        content_type=WARC_FIELDS_TYPE,
        payload=warc_fields(fields),
        payload_digest=False,
    )


def metadata_record(
    *,
    url: str,
    date: datetime,
    fields: Mapping[str, str] | Iterable[tuple[str, str]],
    record_id: str,
    refers_to: str | None = None,
) -> ArcWarcRecord:
    """A ``metadata`` record about ``url``: a failed fetch, a link between captures."""
    return _record(
        "metadata",
        record_id=record_id,
        date=date,
        url=url,
        fields=[("WARC-Refers-To", refers_to or "")],
        content_type=WARC_FIELDS_TYPE,
        payload=warc_fields(fields),
    )


def json_metadata_record(
    *,
    url: str,
    date: datetime,
    data: Mapping[str, object],
    record_id: str,
    refers_to: str | None = None,
) -> ArcWarcRecord:
    """A ``metadata`` record whose block is JSON: it holds any value exactly.

    ``url`` must be a ``urn:`` that no page has: pywb indexes metadata records
    that are not ``application/warc-fields`` under their target URI.
    """
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return _record(
        "metadata",
        record_id=record_id,
        date=date,
        url=url,
        fields=[("WARC-Refers-To", refers_to or "")],
        content_type=JSON_TYPE,
        payload=payload,
    )


def conversion_record(
    *,
    url: str,
    date: datetime,
    text: str,
    refers_to: str,
    record_id: str,
    refers_to_date: str | None = None,
) -> ArcWarcRecord:
    """The text extracted from the response at ``url``, linked to it.

    Its target URI is ``urn:text:<url>`` (see :data:`TEXT_URI_PREFIX`);
    ``WARC-Refers-To`` names the response, ``WARC-Refers-To-Target-URI`` and
    ``-Date`` (the response's ``WARC-Date``) find it by URL and time.
    """
    return _record(
        "conversion",
        record_id=record_id,
        date=date,
        url=TEXT_URI_PREFIX + url,
        fields=[
            ("WARC-Refers-To", refers_to),
            ("WARC-Refers-To-Target-URI", url),
            ("WARC-Refers-To-Date", refers_to_date or ""),
        ],
        content_type=TEXT_TYPE,
        payload=text.encode("utf-8"),
    )
