"""Clean text and metadata out of archived pages: one function for live crawls and replay."""
