"""Scrapy extensions of the archiver (``EXTENSIONS``): the capture of every exchange."""
