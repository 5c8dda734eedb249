"""WARC files: exchanges, their records, the writer, the reader and the checker."""
