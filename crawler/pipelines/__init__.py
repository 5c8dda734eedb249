"""Item pipelines of the archiver (``ITEM_PIPELINES``): text files and seed outcomes."""
