"""Scrapy commands of the archiver (``COMMANDS_MODULE``), one module each."""
