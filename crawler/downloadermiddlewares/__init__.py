"""Downloader middlewares of the archiver (``DOWNLOADER_MIDDLEWARES``), one module each."""
