"""The visible headline against the SEO title, and site and section names in any script."""

from __future__ import annotations

import json

from lxml import html as lxml_html

from crawler.extract.facts import PageFacts
from crawler.extract.page import extract_page
from crawler.extract.title import best_title, strip_site_name

ARTICLE = '<meta property="og:type" content="article">'
SLACK_TITLE = "Why Does Slack Say Hummus?"
SLACK_H1 = "The Adorable Reason You Can Set Your Alert Sound to 'Hummus' on Slack"


def facts(head: str = "", body: str = "", url: str = "https://news.site.test/a/story") -> PageFacts:
    tree = lxml_html.fromstring(f"<html><head>{head}</head><body>{body}</body></html>")
    return PageFacts.read(tree, url)


def ld(**item: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(item)}</script>'


def test_an_h1_that_a_meta_title_backs_beats_the_seo_title() -> None:
    head = f'<meta property="og:title" content="{SLACK_TITLE}">' + ld(
        **{"@type": "NewsArticle", "headline": SLACK_H1}
    )
    page = facts(head, f"<article><h1>{SLACK_H1}</h1></article>")
    assert best_title(SLACK_TITLE, page) == SLACK_H1
    # Without a second voice the SEO title stays: the <h1> shares too few words.
    page = facts(
        ARTICLE + f'<meta property="og:title" content="{SLACK_TITLE}">', f"<h1>{SLACK_H1}</h1>"
    )
    assert best_title(SLACK_TITLE, page) == SLACK_TITLE


def test_extract_page_gives_the_visible_headline() -> None:
    head = (
        f"<title>{SLACK_TITLE} | Example Times</title>"
        f'<meta property="og:title" content="{SLACK_TITLE}">'
        f'<meta name="twitter:title" content="{SLACK_H1}">'
    )
    paragraphs = "".join(
        f"<p>Paragraph {n}: the chat service lets people choose an alert sound, and one of "
        "the sounds carries a name that surprised many of the people who use it.</p>"
        for n in range(5)
    )
    body = f"<article><h1>{SLACK_H1}</h1>{paragraphs}</article>"
    html = f"<html><head>{head}</head><body>{body}</body></html>".encode()
    result = extract_page(html, url="https://times.example/tech/slack-hummus", content_type=None)
    assert result.title == SLACK_H1


def test_a_kicker_glued_to_the_headline_keeps_the_title() -> None:
    page = facts(
        ARTICLE + '<meta property="og:title" content="New tasks for the new government">',
        "<h1><span>Tunisia</span> New tasks for the new government</h1>",
    )
    assert best_title("New tasks for the new government", page) == (
        "New tasks for the new government"
    )


def test_an_h1_inside_the_title_wins_on_articles_only() -> None:
    title = "Best Camping Hammocks of 2026, Tested & Reviewed"
    body = "<h1>Best Camping Hammocks of 2026</h1>"
    assert best_title(title, facts(ARTICLE, body)) == "Best Camping Hammocks of 2026"
    # A shop's category page: "Furniture" inside "Shop Furniture Online" is a label.
    assert best_title("Shop Furniture Online", facts(body="<h1>Furniture</h1>")) == (
        "Shop Furniture Online"
    )


def test_an_h1_that_is_the_title_without_the_brand_wins_anywhere() -> None:
    page = facts(body="<h1>Essential Electronics Toolkit</h1>", url="https://www.ifixit.test/p/kit")
    assert best_title("iFixit Essential Electronics Toolkit", page) == (
        "Essential Electronics Toolkit"
    )


def test_a_reworded_h1_wins_on_an_article_with_one_h1() -> None:
    title = "Using Machine Learning To Personalize Shopping Experiences"
    h1 = "How Machine Learning Personalizes Ecommerce Shopping Experiences"
    assert best_title(title, facts(ARTICLE, f"<h1>{h1}</h1>")) == h1
    # Two <h1>, or a page that is no article: the <h1> may be anything.
    assert best_title(title, facts(ARTICLE, f"<h1>{h1}</h1><h1>Related</h1>")) == title
    assert best_title(title, facts(body=f"<h1>{h1}</h1>")) == title
    # One word in common is a section's name, not the story.
    page = facts(ARTICLE, "<h1>Minecraft News</h1>")
    assert best_title("Minecraft 1.8 - The Bountiful Update", page) == (
        "Minecraft 1.8 - The Bountiful Update"
    )
    # A sentence with a full stop is a slogan, not a rewording; "U.S." ends no sentence.
    title = "Salesforce CRM: Try The World's #1 AI CRM"
    slogan = "The world's #1 AI CRM powers the Agentic Enterprise."
    assert best_title(title, facts(ARTICLE, f"<h1>{slogan}</h1>")) == title
    title = "Machine Learning Personalizes Shopping Across the United States"
    h1 = "How Machine Learning Personalizes Shopping in the U.S."
    assert best_title(title, facts(ARTICLE, f"<h1>{h1}</h1>")) == h1


def test_logos_hidden_headings_and_home_pages_are_left_alone() -> None:
    title = "Rivers rise across the region after heavy rain"
    backed = ARTICLE + f'<meta name="twitter:title" content="{title} tonight">'
    logo = '<h1><a href="/">Rivers rise across the region after heavy rain tonight</a></h1>'
    assert best_title(title, facts(backed, logo)) == title
    anchor = '<h1><a href="#top">Rivers rise across the region after heavy rain tonight</a></h1>'
    assert best_title(title, facts(backed, anchor)) == f"{title} tonight"
    hidden = '<h1 style="display: none">Rivers rise across the region after heavy rain tonight</h1>'
    assert best_title(title, facts(backed, hidden)) == title
    home = facts(backed, f"<h1>{title} tonight</h1>", url="https://news.site.test/")
    assert best_title(title, home) == title


def test_a_section_name_goes_with_the_site_name() -> None:
    title = "Dylann Roof Convicted Of Charleston Church Massacre : The Two-Way : NPR"
    page = facts(
        f'<title>{title}</title><meta property="og:site_name" content="NPR">',
        '<nav><a href="/sections/thetwo-way/">The Two-Way</a></nav>',
        url="https://www.npr.test/sections/thetwo-way/2016/12/15/505698040/dylann-roof",
    )
    assert strip_site_name(title, page) == "Dylann Roof Convicted Of Charleston Church Massacre"
    # Without the site name it is a headline in parts, not a section to cut.
    assert strip_site_name("Wedding Tools - The Two-Way", page) == "Wedding Tools - The Two-Way"


def test_site_and_section_names_without_spaces() -> None:
    page = facts(
        "<title>机器人会取代记者吗_智能_好奇心日报</title>"
        '<meta property="og:site_name" content="好奇心日报">',
        '<div class="menu"><a href="/tags/ai">智能</a></div>',
        url="https://www.qdaily.test/articles/1.html",
    )
    assert strip_site_name("机器人会取代记者吗_智能_好奇心日报", page) == "机器人会取代记者吗"
    page = facts('<meta property="og:site_name" content="サンワサプライ株式会社">')
    assert strip_site_name("USBケーブルの選び方｜サンワサプライ株式会社", page) == (
        "USBケーブルの選び方"
    )
    # A host name is no declaration: "GdP-Vize" on gdp.de is a word of the headline.
    page = facts(url="https://www.gdp.test/news/1")
    assert strip_site_name("GdP-Vize Klemmer: Mangelnde Wertschätzung", page) == (
        "GdP-Vize Klemmer: Mangelnde Wertschätzung"
    )


def test_site_names_in_brackets_and_before_a_colon() -> None:
    page = facts(url="https://erikdemaine.test/foldcut/")
    assert strip_site_name("The Fold-and-Cut Problem (Erik Demaine)", page) == (
        "The Fold-and-Cut Problem"
    )
    page = facts(url="https://www.amazon.test/dp/B0")
    assert strip_site_name("Amazon.test: Wireless Headphones, White", page) == (
        "Wireless Headphones, White"
    )


def test_quotation_marks_around_a_headline_stay() -> None:
    page = facts('<meta property="og:site_name" content="Seglerblog">')
    assert strip_site_name("»Haltet unsere Gewässer sauber!« | Seglerblog", page) == (
        "»Haltet unsere Gewässer sauber!«"
    )


def test_entities_escaped_twice_in_meta_titles_are_resolved() -> None:
    page = facts('<meta property="og:title" content="Wedding Tools &amp;#8211; Spreadsheet">')
    assert page.meta_titles == ("Wedding Tools – Spreadsheet",)


def test_a_headline_in_the_body_when_the_page_has_no_title() -> None:
    body = (
        '<nav><h2>Menu</h2></nav><div class="post-headline">Rivers rise again</div><h2>Other</h2>'
    )
    assert best_title(None, facts(body=body)) == "Rivers rise again"
    assert best_title(None, facts(body="<aside><h2>Ads</h2></aside><h2>Rivers rise</h2>")) == (
        "Rivers rise"
    )
    assert best_title(None, facts(body="<p>No heading at all</p>")) is None
