"""The example WARC file of the quick start: it verifies, extracts offline, and can be remade."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from warcio.archiveiterator import ArchiveIterator

from crawler.text.document import file_name, parse
from tests.conftest import archiver
from tests.test_extract_command import clean_env, offline_prefix
from tests.test_scrapyd import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "example.warc.gz"


def load_maker() -> ModuleType:
    """examples/make_example.py, which holds the articles the example was made from."""
    spec = importlib.util.spec_from_file_location("make_example", ROOT / "examples/make_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


MAKER = load_maker()


def records(warc: Path, kind: str) -> list[tuple[str, bytes]]:
    """The target URI and block of every record of one type, in file order."""
    with warc.open("rb") as stream:
        return [
            (record.rec_headers["WARC-Target-URI"], record.content_stream().read())
            for record in ArchiveIterator(stream)
            if record.rec_type == kind
        ]


def assert_articles(warc: Path, texts: list[str], port: int) -> None:
    """The pages are the example's articles; the texts, theirs whole and nothing else."""
    origin = f"http://127.0.0.1:{port}"
    urls = [origin + article.path for article in MAKER.ARTICLES]
    responses = [uri for uri, _ in records(warc, "response")]
    assert responses[0] == f"{origin}/robots.txt"
    assert sorted(responses[1:]) == sorted(urls)  # fetched in any order once robots.txt is in
    docs = {doc.url: doc for doc in map(parse, texts)}
    assert sorted(docs) == sorted(urls)
    for url, article in zip(urls, MAKER.ARTICLES, strict=True):
        doc = docs[url]
        assert doc.title == article.title
        assert doc.published is not None
        assert doc.published.isoformat() == article.published
        assert doc.site_name == MAKER.SITE_NAME
        assert doc.paragraphs == list(article.paragraphs)  # no navigation, no footer


def extract(warc: Path, out: Path) -> dict[str, str]:
    """``archiver extract WARC -o OUT`` with the network cut; the text files it wrote."""
    command = [sys.executable, "-m", "crawler.cli", "extract", str(warc), "-o", str(out)]
    run = subprocess.run(
        [*offline_prefix(), *command],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=out.parent,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((out / "text").glob("*.txt"))}


def test_the_example_is_small_and_verifies() -> None:
    assert EXAMPLE.stat().st_size < MAKER.MAX_SIZE
    result = archiver("verify", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all OK" in result.stdout


def test_the_example_extracts_to_its_articles_offline(tmp_path: Path) -> None:
    texts = extract(EXAMPLE, tmp_path / "example-corpus")
    assert_articles(EXAMPLE, list(texts.values()), MAKER.EXAMPLE_PORT)
    # Named by response order; response 0 is the robots.txt, which has no text.
    uris = [uri for uri, _ in records(EXAMPLE, "response")]
    assert list(texts) == [file_name(n, uri) for n, uri in enumerate(uris) if n > 0]
    # The same bytes as the crawl that made the file wrote, kept in its conversion records.
    conversions = {uri: block.decode() for uri, block in records(EXAMPLE, "conversion")}
    assert sorted(texts.values()) == sorted(conversions.values())


def test_make_example_remakes_the_example(tmp_path: Path) -> None:
    port = free_port()
    script = ROOT / "examples/make_example.py"
    made = subprocess.run(
        [sys.executable, str(script), "-o", "new.warc.gz", "--port", str(port)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=180,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    remade = tmp_path / "new.warc.gz"
    assert remade.stat().st_size < MAKER.MAX_SIZE
    assert_articles(remade, [block.decode() for _, block in records(remade, "conversion")], port)
