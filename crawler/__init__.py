"""Archive source URLs in WARC files and turn them into a clean text corpus."""

from __future__ import annotations

import os

__version__ = "0.1.0"

# Scrapy's cookie middleware builds a tldextract splitter at import time, and
# tldextract would fetch the public suffix list from the network on first use.
# Its bundled snapshot is enough for cookie domains, and offline runs must not
# depend on the network, so it is the default unless the user says otherwise.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
