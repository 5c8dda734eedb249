"""The corpus text format: documents, their rendering and parsing, and their files."""
