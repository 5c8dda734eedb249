"""Spider middlewares of the archiver (``SPIDER_MIDDLEWARES``), one module each."""
