"""WARC digest header values: parse ``label:value``, hash incrementally, compare.

Writers disagree on the spelling of a digest: ``sha1:`` or ``SHA-1:``, base32
(the WARC convention, sometimes lowercase or unpadded), hex in either case, and
even base64. A digest counts as matching when the computed one, written in any
of these encodings, equals the value in the header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash

#: hashlib names of the labels we check, keyed by the label lowercased without dashes.
ALGORITHMS = {
    "md5": "md5",
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
}

_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE32 = re.compile(r"[A-Za-z2-7]+=*")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+=*")


class DigestError(ValueError):
    """A digest header value that is malformed."""


class UnsupportedDigest(DigestError):
    """A digest of an algorithm we do not compute: not wrong, only not checked."""


@dataclass(frozen=True, slots=True)
class Digest:
    """One digest header value, as written and as understood."""

    text: str  #: the header value, as written
    label: str  #: the algorithm label as written (``sha1``, ``SHA-256``)
    algorithm: str  #: the hashlib name
    value: str  #: the encoded digest

    def new_hash(self) -> _Hash:
        return hashlib.new(self.algorithm, usedforsecurity=False)

    def matches(self, raw: bytes) -> bool:
        """Whether ``raw`` (a digest from hashlib) is what the header says, in any encoding."""
        value = self.value
        if value.lower() == raw.hex():
            return True
        if value.upper().rstrip("=") == base64.b32encode(raw).decode("ascii").rstrip("="):
            return True
        stripped = value.rstrip("=")
        return stripped in (
            base64.b64encode(raw).decode("ascii").rstrip("="),
            base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
        )

    def encode(self, raw: bytes) -> str:
        """``raw`` written the way this header writes its value, for messages."""
        size = len(raw)
        value = self.value
        if len(value) == 2 * size and _HEX.fullmatch(value):
            text = raw.hex()
            return f"{self.label}:{text.upper() if value.isupper() else text}"
        if _BASE32.fullmatch(value) and len(value.rstrip("=")) == -(-size * 8 // 5):
            text = base64.b32encode(raw).decode("ascii")
            if "=" not in value:
                text = text.rstrip("=")
            return f"{self.label}:{text if not value.islower() else text.lower()}"
        return f"{self.label}:{base64.b64encode(raw).decode('ascii')}"

    def well_formed(self) -> bool:
        """Whether the value has the length and alphabet of some encoding of this algorithm."""
        size = self.new_hash().digest_size
        value = self.value
        if len(value) == 2 * size and _HEX.fullmatch(value):
            return True
        if _BASE32.fullmatch(value) and len(value.rstrip("=")) == -(-size * 8 // 5):
            return True
        if _BASE64.fullmatch(value) and len(value.rstrip("=")) == -(-size * 4 // 3):
            try:
                binascii.a2b_base64(value.replace("-", "+").replace("_", "/") + "==")
            except binascii.Error:
                return False
            return True
        return False


def parse_digest(text: str) -> Digest:
    """Parse a ``WARC-Block-Digest``/``WARC-Payload-Digest`` value; DigestError if unusable."""
    label, sep, value = text.strip().partition(":")
    label, value = label.strip(), value.strip()
    if not sep or not label or not value:
        raise DigestError(f"malformed digest {text.strip()!r} (expected algorithm:value)")
    algorithm = ALGORITHMS.get(label.lower().replace("-", "").replace("_", ""))
    if algorithm is None:
        raise UnsupportedDigest(f"unsupported digest algorithm {label!r}, not checked")
    digest = Digest(text.strip(), label, algorithm, value)
    if not digest.well_formed():
        raise DigestError(
            f"digest {text.strip()!r} is not a {algorithm} value in hex, base32 or base64"
        )
    return digest
