"""Decode an HTML body as a browser would, with one correction.

Order: byte order mark, the HTTP ``Content-Type`` charset, a ``<meta charset>``
(or XML declaration) near the top, then detection. Detection tries strict UTF-8
first (text that decodes as UTF-8 almost always is), then charset_normalizer on
the first bytes of the page. Labels map to what browsers use (``iso-8859-1``
decodes as ``windows-1252``), and bytes invalid in the chosen encoding become
U+FFFD rather than an error.

The correction: a ``<meta>`` declaration loses to the bytes when they are valid
UTF-8. Pages re-encoded by their CMS keep their old ``<meta charset=gb2312>``
or ``latin-1`` while serving UTF-8; browsers show such pages garbled, and a
corpus should not. Non-ASCII text in a legacy encoding is almost never valid
UTF-8 by chance, so the rule does not misfire on pages that are what they say.
"""

from __future__ import annotations

import charset_normalizer
from w3lib.encoding import html_to_unicode, http_content_type_encoding, read_bom

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
    if (
        encoding != "utf-8"
        and http_content_type_encoding(content_type) is None
        and read_bom(body)[0] is None
    ):
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    return text, encoding
