"""The ``archiver`` command's own help, and command lines it does not understand."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.usage import COMMAND_ORDER, closest, unknown_option, unknown_options
from tests.conftest import archiver, run_module, write_urls

REPO = Path(__file__).resolve().parents[1]
COMMANDS = [
    name for name in COMMAND_ORDER if (REPO / "crawler" / "commands" / f"{name}.py").exists()
]


@pytest.mark.parametrize("args", [[], ["--help"], ["-h"], ["help"]])
def test_the_overview_lists_the_archivers_commands(tmp_path: Path, args: list[str]) -> None:
    result = archiver(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    ours, _, scrapys = text.partition("\nScrapy's commands\n")
    listed = [
        line.split()[0] for line in ours.split("Commands\n========\n")[1].splitlines() if line
    ]
    assert listed == COMMANDS  # in the archiver's order, one line each
    assert "  crawl  " in ours and "  crawl  " not in scrapys
    assert "  fetch  " in scrapys and "  fetch  " not in ours
    assert 'Run "archiver <command> --help"' in text
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_shows_its_own_help(tmp_path: Path, name: str) -> None:
    result = archiver(name, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(f"Usage\n=====\n  archiver {name} ")
    assert "scrapy" not in result.stdout.splitlines()[2]
    examples = result.stdout.split("\nExamples\n========\n")[1].splitlines()
    assert examples and all(
        line.startswith(f"  archiver {name}") or "| archiver" in line for line in examples
    )
    assert not list(tmp_path.iterdir())


def test_crawl_help_has_its_options_and_exit_codes(tmp_path: Path) -> None:
    result = archiver("crawl", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for option in ("-o DIR, --output DIR", "--resume", "--archived", "--replay DIR", "--at WHEN"):
        assert f"\n  {option} " in text, option
    for option in ("--requisites", "--due DURATION", "-s NAME=VALUE", "-L LEVEL", "--logfile"):
        assert f"\n  {option}" in text, option
    assert "append scraped items" not in text
    codes = text.split("\nExit Codes\n==========\n")[1].split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in codes] == ["0", "3", "1", "2"]
    assert archiver("help", "crawl", cwd=tmp_path).stdout == text
    assert archiver("crawl", "urls.txt", "-o", "x", "--help", cwd=tmp_path).stdout == text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["crawl", "urls.txt", "--resmue"], "unknown option --resmue; did you mean --resume?"),
        (["crawl", "urls.txt", "--due=6h", "--requsites"], "unknown option --requsites; did "),
        (["crawl", "urls.txt", "--resu"], "unknown option --resu; did you mean --resume?"),
        (["crawl", "urls.txt", "-x"], "unknown option -x"),
        (["crawl", "urls.txt", "-O", "x.json"], "unknown option -O: --items FILE writes the item"),
        (["crawl", "urls.txt", "other.txt"], "crawl takes one INPUT, not 2: urls.txt other.txt"),
        (["crawl", "-o", "out"], "crawl takes INPUT: a URL list, a corpus folder, or - for"),
        (["crawl", "urls.txt", "-s"], "archiver crawl: argument -s/--set: expected one argument"),
        (["crawll", "urls.txt"], "unknown command crawll; did you mean crawl?"),
        (["--resume", "crawl"], "unknown option --resume: the command comes first"),
        (["verify", "--outptu", "x"], "unknown option --outptu; did you mean --output?"),
        (["extract", "--reprot=x.jsonl"], "unknown option --reprot; did you mean --report?"),
        (["serve", "--port", "http"], "archiver serve: argument --port: invalid int value:"),
        (["history", "https://a.example/", "--diff", "1"], "archiver history: argument --diff:"),
        (["schedule", "1h", "urls.txt", "--resmue"], "unknown option --resmue; did you mean"),
        (["rebuild", "corpus", "--archvied"], "unknown option --archvied; did you mean --archi"),
    ],
)
def test_a_command_line_it_does_not_understand_is_a_usage_error(
    tmp_path: Path, args: list[str], message: str
) -> None:
    write_urls(tmp_path / "urls.txt", "http://127.0.0.1:9/")
    (tmp_path / "corpus").mkdir()
    result = archiver(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "urls.txt"]


def test_scrapy_crawl_rejects_unknown_options_too(tmp_path: Path) -> None:
    urls = write_urls(tmp_path / "urls.txt", "http://127.0.0.1:9/")
    archive = tmp_path / "archives"
    result = run_module(
        "scrapy.cmdline",
        *("crawl", "urls", "-a", f"urls={urls}", "-s", f"ARCHIVER_DIR={archive}", "--logifle", "x"),
        cwd=REPO,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown option --logifle; did you mean --logfile?"
    ]
    assert not archive.exists()


def test_suggestions() -> None:
    known = ["-o", "--output", "--resume", "--replay", "--requisites", "-s", "--set"]
    assert unknown_option("--resmue", known) == "unknown option --resmue; did you mean --resume?"
    assert unknown_option("--replya=DIR", known) == (
        "unknown option --replya; did you mean --replay?"
    )
    assert (
        unknown_option("-O", known, {"-O": "no feeds here"}) == "unknown option -O: no feeds here"
    )
    assert unknown_option("--zzz", known) == "unknown option --zzz"
    assert unknown_option("-p", known) == "unknown option -p"  # not a long option for a short one
    assert closest("verfiy", ["verify", "version", "view"]) == "verify"
    assert closest("xyz", ["verify"]) is None
    assert unknown_options(["urls.txt", "-", "-1", "--x=1", "-y", "--", "-z"]) == ["--x=1", "-y"]
