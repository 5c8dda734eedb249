"""The title touch-ups on trafilatura's pick: site names, logos, box headings, kickers."""

from __future__ import annotations

import pytest
from lxml import html as lxml_html

from crawler.extract.facts import PageFacts, host_names
from crawler.extract.title import best_title, strip_site_name


def facts(head: str = "", body: str = "", url: str = "https://news.site.test/a/story") -> PageFacts:
    tree = lxml_html.fromstring(f"<html><head>{head}</head><body>{body}</body></html>")
    return PageFacts.read(tree, url)


def test_a_site_name_the_page_declares_is_cut_off() -> None:
    page = facts('<meta property="og:site_name" content="The Daily Example">')
    assert best_title("Rivers Rise | The Daily Example", page) == "Rivers Rise"
    assert best_title("The Daily Example - Rivers Rise", page) == "Rivers Rise"
    assert best_title("Rivers Rise", page) == "Rivers Rise"


@pytest.mark.parametrize(
    ("script", "title"),
    [
        ('{"@type": "NewsArticle", "publisher": {"name": "Daily Example"}}', "Tides"),
        ('{"@graph": [{"@type": "WebSite", "name": "Daily Example"}]}', "Tides"),
        ('{"@type": "WebSite", "name": broken json', "Tides – Daily Example"),
    ],
)
def test_json_ld_names_the_site(script: str, title: str) -> None:
    page = facts(f'<script type="application/ld+json">{script}</script>')
    assert best_title("Tides – Daily Example", page) == title


def test_the_host_name_is_a_site_name() -> None:
    page = facts(url="https://www.backen.example/rezepte/42")
    assert best_title("Maulwurfkuchen - Backen.example", page) == "Maulwurfkuchen"
    # Spelled out at the end; at the start, a brand that begins a product name stays.
    assert best_title("Maulwurfkuchen - Rezept von Backen.example", page) == "Maulwurfkuchen"
    assert best_title("Backen Pro 2 - Die Maschine", page) == "Backen Pro 2 - Die Maschine"


def test_a_home_page_keeps_the_site_name() -> None:
    page = facts('<meta property="og:site_name" content="Acme">', url="https://acme.example/")
    assert best_title("Acme – Tools for builders", page) == "Acme – Tools for builders"


def test_a_logo_heading_gives_way_to_the_title_element() -> None:
    # trafilatura takes a lone <h1> when no meta title exists; here it is the site's logo.
    title = "<title>Progress Report #39 - Antoyo's Blog</title>"
    page = facts(title, "<h1>Antoyo's Blog</h1>")
    assert best_title("Antoyo's Blog", page) == "Progress Report #39 - Antoyo's Blog"
    page = facts(title + '<meta name="application-name" content="Antoyo’s Blog">')
    assert best_title("Antoyo's Blog", page) == "Progress Report #39"


def test_a_box_heading_gives_way_to_the_title_element() -> None:
    page = facts("<title>Babies Who Eat Peanuts Early May Avoid Allergy</title>")
    assert best_title("Allergies Health Center", page) == (
        "Babies Who Eat Peanuts Early May Avoid Allergy"
    )
    # A pick that shares most words with <title> is kept: it is the same headline.
    page = facts("<title>Peanuts early may avoid allergy, study says</title>")
    assert best_title("Peanuts Early May Avoid Allergy", page) == "Peanuts Early May Avoid Allergy"


def test_a_meta_title_is_trusted_unless_it_is_the_site_name() -> None:
    head = '<title>Space ship breaks up over Siberia</title><meta name="title" content="{}">'
    page = facts(
        head.format("Example News") + '<meta property="og:site_name" content="Example News">'
    )
    assert best_title("Example News", page) == "Space ship breaks up over Siberia"
    page = facts(head.format("Space ship lost"))
    assert best_title("Space ship lost", page) == "Space ship lost"


def test_the_heading_marks_the_headline_inside_the_title() -> None:
    page = facts(body="<h1>Drilling until it gets hot</h1>")
    assert best_title("Climate: Drilling until it gets hot", page) == "Drilling until it gets hot"
    page = facts(body="<h1>Hiking Boots</h1>")
    assert best_title("Hiking Boots: Shop Boots for Hiking | Outdoor Co", page) == "Hiking Boots"


def test_a_heading_after_a_dash_is_a_site_or_section_not_the_headline() -> None:
    page = facts(body="<h1>The Rust Book</h1>")
    assert best_title("What is Ownership? - The Rust Book", page) == (
        "What is Ownership? - The Rust Book"
    )


def test_headings_in_navigation_do_not_count() -> None:
    page = facts(body="<nav><h1>Climate</h1></nav><h1>Drilling until it gets hot</h1>")
    assert page.headings == ("Drilling until it gets hot",)


def test_no_title_anywhere() -> None:
    assert best_title(None, facts()) is None
    assert best_title(None, facts("<title> A  title\n</title>")) == "A title"


def test_stripping_leaves_at_least_one_part() -> None:
    page = facts('<meta property="og:site_name" content="Example">')
    assert strip_site_name("Example | Example", page) == "Example"
    assert strip_site_name("Example", page) == "Example"
    assert strip_site_name("| Nuts & Bolts", page) == "Nuts & Bolts"


def test_host_names() -> None:
    assert host_names("https://www.example.co.uk/page") >= {"example", "examplecouk"}
    assert "news" not in host_names("https://news.example.com/")
    assert host_names("https://localhost:8080/") == frozenset()
    assert host_names(None) == frozenset()
