"""Download handlers of the archiver (``DOWNLOAD_HANDLERS``): live HTTP/1.1 and replay."""
