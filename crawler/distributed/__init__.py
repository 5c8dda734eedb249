"""Crawls shared by several workers through one Redis server."""
