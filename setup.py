"""Lets ``scrapyd-deploy`` build the project's egg: every setting is in pyproject.toml."""

from setuptools import setup

setup()
