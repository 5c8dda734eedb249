"""Spiders of the archiver (``SPIDER_MODULES``): ``urls``."""
