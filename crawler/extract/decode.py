"""Decode an HTML body as a browser would.

Order: byte order mark, the HTTP ``Content-Type`` charset, a ``<meta charset>``
(or XML declaration) near the top, then detection. Detection tries strict UTF-8
first (text that decodes as UTF-8 almost always is), then charset_normalizer on
the first bytes of the page. Labels map to what browsers use (``iso-8859-1``
decodes as ``windows-1252``), and bytes invalid in the chosen encoding become
U+FFFD rather than an error.
"""

from __future__ import annotations

import charset_normalizer
from w3lib.encoding import html_to_unicode

#: Bytes of the page that detection looks at.
SNIFF_BYTES = 64 * 1024


def sniff_encoding(data: bytes) -> str | None:
    sample = data[:SNIFF_BYTES]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is still UTF-8.
        if exc.start < len(sample) - 3 or len(sample) == len(data):
            best = charset_normalizer.from_bytes(sample).best()
            return best.encoding if best is not None else None
    return "utf-8"


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """The page as text, and the name of the encoding used."""
    encoding, text = html_to_unicode(content_type, body, auto_detect_fun=sniff_encoding)
    return text, encoding
