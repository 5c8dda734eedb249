#!/usr/bin/env bash
# Scrapy 2.19.0's own HTTP/1.1 handler and crawl tests, run twice: with Scrapy's
# HTTP11DownloadHandler (baseline) and with crawler.handlers.http11.
# ArchivingHTTP11DownloadHandler swapped in. Scrapy's test files stay unchanged:
# a pytest plugin (written below) rebinds the handler class before collection.
#
# Exit status: 0 when no test that passes at baseline fails with our handler and
# the swapped runs really built our handler (and the baseline runs did not);
# 1 otherwise; 2 on a setup error.
#
# Environment (all optional):
#   WORK=/tmp/scrapy-suite   where everything goes; src/, venv/, mitm-venv/, out/ are recreated
#   ARCHIVER=...             the archiver checkout (default: the one holding this script, else /work/main)
#   REUSE=1                  keep WORK's venvs and sources from an earlier run (skips ~1 min of setup)
#   REACTORS="asyncio default"  Twisted reactors to run under (Scrapy's tox runs both)
#   EXTENDED=0               only the handler and crawl test files, not the engine-level extras
#   NO_MITM=1                do not install mitmproxy (its 24 proxy tests are then skipped)
set -euo pipefail

SCRAPY_VERSION=2.19.0
WORK=${WORK:-/tmp/scrapy-suite}
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -z ${ARCHIVER:-} ]]; then
    if [[ -f $script_dir/../crawler/handlers/http11.py ]]; then
        ARCHIVER=$(cd "$script_dir/.." && pwd)
    else
        ARCHIVER=/work/main
    fi
fi
REACTORS=${REACTORS:-asyncio default}
EXTENDED=${EXTENDED:-1}
PYTHON=${PYTHON:-python3}

# The tests the requirement is about: the HTTP/1.1 handler tests (which run the
# generic classes of tests/utils/bases/download_handlers_http.py, 2.19's home of
# the old tests/test_downloader_handlers_http_base.py) and the crawl tests.
CORE_TESTS=(
    tests/test_downloader_handler_twisted_http11.py
    tests/test_crawl.py
)
# Engine-level tests that download from Scrapy's mock server in-process through
# DOWNLOAD_HANDLERS_BASE, i.e. through the swapped handler. Tests that spawn a
# subprocess (commands, CrawlerProcess scripts) are left out: the swap does not
# reach into a child process.
EXTENDED_TESTS=(
    tests/test_closespider.py tests/test_contracts.py tests/test_core_downloader.py
    tests/test_core_scraper.py tests/test_crawler_runners.py tests/test_downloader_handlers.py
    tests/test_downloaderslotssettings.py tests/test_engine.py tests/test_engine_close_spider.py
    tests/test_engine_download.py tests/test_engine_loop.py
    tests/test_engine_stop_download_bytes.py tests/test_engine_stop_download_headers.py
    tests/test_extension_memusage.py tests/test_feedexport.py tests/test_feedexport_batch.py
    tests/test_feedexport_postprocess.py tests/test_logformatter.py tests/test_pipeline_crawl.py
    tests/test_pipeline_files.py tests/test_pipelines.py tests/test_request_attribute_binding.py
    tests/test_request_cb_kwargs.py tests/test_request_left.py tests/test_scheduler.py
    tests/test_scheduler_base.py tests/test_signals.py tests/test_spider.py
    tests/test_spider_sitemap.py tests/test_spidermiddleware_httperror.py
    tests/test_spidermiddleware_output_chain.py
)

# Scrapy 2.19's [test-requirements] in tox.ini, less coverage tooling. pytest is
# pinned to 9.1.1, the version 2.19's own tox pins elsewhere: pytest 9.2 deprecates
# the class-scoped instance-method fixtures of TestHttpProxyBase, and Scrapy's
# filterwarnings=error turns that into 8 setup errors at baseline.
TEST_REQUIREMENTS=(
    attrs "pexpect>=4.8.0" psutil "pyftpdlib>=2.0.1" pygments "pytest==9.1.1"
    pytest-rerunfailures pytest-timeout pytest-xdist "sybil>=1.3.0" "pytest-twisted>=1.14.3"
    testfixtures
)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*"; }
t0=$SECONDS

[[ -f $ARCHIVER/crawler/handlers/http11.py ]] || { echo "no archiver checkout at $ARCHIVER" >&2; exit 2; }
mkdir -p "$WORK"
SRC=$WORK/src/scrapy-$SCRAPY_VERSION
OUT=$WORK/out
rm -rf "$OUT"; mkdir -p "$OUT"

# --- 1. environment -----------------------------------------------------------
if [[ ${REUSE:-0} != 1 || ! -x $WORK/venv/bin/python || ! -d $SRC/tests ]]; then
    log "creating $WORK/venv"
    rm -rf "$WORK/venv" "$WORK/src"
    "$PYTHON" -m venv "$WORK/venv"
    log "downloading the scrapy==$SCRAPY_VERSION sdist (it carries tests/)"
    mkdir -p "$WORK/src"
    "$WORK/venv/bin/pip" download -q --no-deps --no-binary :all: "scrapy==$SCRAPY_VERSION" \
        -d "$WORK/src" >"$OUT/pip-download.log" 2>&1 \
        || { cat "$OUT/pip-download.log" >&2; exit 2; }
    tar -xzf "$WORK/src/scrapy-$SCRAPY_VERSION.tar.gz" -C "$WORK/src"
    [[ -f $SRC/tests/test_crawl.py ]] || { echo "sdist has no tests/" >&2; exit 2; }
    log "installing scrapy==$SCRAPY_VERSION, its test requirements and $ARCHIVER"
    "$WORK/venv/bin/pip" install -q "scrapy==$SCRAPY_VERSION" "${TEST_REQUIREMENTS[@]}" \
        -e "$ARCHIVER" >"$OUT/pip-install.log" 2>&1 \
        || { cat "$OUT/pip-install.log" >&2; exit 2; }
fi
"$WORK/venv/bin/pip" freeze >"$OUT/pip-freeze.txt" 2>/dev/null

# mitmdump for TestMitmProxy, in a venv of its own as Scrapy's tests expect
# (tests/mockserver/mitm_proxy.py reads MITMDUMP).
MITMDUMP=
if [[ ${NO_MITM:-0} != 1 ]]; then
    if [[ ${REUSE:-0} != 1 || ! -x $WORK/mitm-venv/bin/mitmdump ]]; then
        log "installing mitmproxy into $WORK/mitm-venv"
        rm -rf "$WORK/mitm-venv"
        if "$PYTHON" -m venv "$WORK/mitm-venv" \
            && "$WORK/mitm-venv/bin/pip" install -q mitmproxy >"$OUT/pip-mitm.log" 2>&1; then :; else
            log "mitmproxy could not be installed: TestMitmProxy will be skipped"
        fi
    fi
    [[ -x $WORK/mitm-venv/bin/mitmdump ]] && MITMDUMP=$WORK/mitm-venv/bin/mitmdump
fi

# --- 2. the swap plugin -------------------------------------------------------
mkdir -p "$WORK/plugin"
cat >"$WORK/plugin/archiver_swap.py" <<'PLUGIN'
"""pytest plugin: Scrapy's own tests with the archiver's HTTP/1.1 handler swapped in.

With ARCHIVER_SWAP=1 the name HTTP11DownloadHandler in
scrapy.core.downloader.handlers.http11 is rebound to
crawler.handlers.http11.ArchivingHTTP11DownloadHandler before any test module is
collected, so every way Scrapy's tests reach the handler gets ours: the
``from ... import HTTP11DownloadHandler`` of the test modules, the dotted path in
their DOWNLOAD_HANDLERS settings, and DOWNLOAD_HANDLERS_BASE (the crawl tests).
Without it nothing changes. Either way it counts the handlers built (and, swapped,
the responses whose raw head our parser kept) and writes the counts to
ARCHIVER_SWAP_REPORT as JSON.
"""

from __future__ import annotations

import collections
import json
import os

import pytest

_seen: collections.Counter[str] = collections.Counter()


def _swap_wanted() -> bool:
    return os.environ.get("ARCHIVER_SWAP", "") not in ("", "0")


@pytest.hookimpl(trylast=True)  # after pytest-twisted has installed the reactor
def pytest_configure(config: pytest.Config) -> None:
    from scrapy.core.downloader.handlers import http11 as scrapy_http11

    original = scrapy_http11.HTTP11DownloadHandler
    original_init = original.__init__

    def counting_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _seen[f"built {type(self).__qualname__}"] += 1
        original_init(self, *args, **kwargs)

    original.__init__ = counting_init  # type: ignore[method-assign]
    if not _swap_wanted():
        return

    from scrapy.settings import default_settings
    from scrapy.utils.misc import load_object

    from crawler.handlers import http11 as ours

    assert issubclass(ours.ArchivingHTTP11DownloadHandler, original)
    scrapy_http11.HTTP11DownloadHandler = ours.ArchivingHTTP11DownloadHandler  # type: ignore[misc]
    for scheme in ("http", "https"):
        path = default_settings.DOWNLOAD_HANDLERS_BASE[scheme]
        assert load_object(path) is ours.ArchivingHTTP11DownloadHandler, path

    original_cb = ours._HeadKeepingAgent._cb_bodyready

    def counting_cb(self, txresponse, request):  # type: ignore[no-untyped-def]
        _seen["responses through _HeadKeepingAgent"] += 1
        if getattr(txresponse, "_archiver_head", None):
            _seen["responses with the raw head kept"] += 1
        return original_cb(self, txresponse, request)

    ours._HeadKeepingAgent._cb_bodyready = counting_cb  # type: ignore[method-assign]


def pytest_report_header(config: pytest.Config) -> str:
    if _swap_wanted():
        return "archiver_swap: HTTP11DownloadHandler -> ArchivingHTTP11DownloadHandler"
    return "archiver_swap: baseline (Scrapy's HTTP11DownloadHandler)"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    terminalreporter.write_line(f"archiver_swap: {dict(_seen)}")
    if report := os.environ.get("ARCHIVER_SWAP_REPORT"):
        with open(report, "w", encoding="utf-8") as f:
            json.dump(dict(_seen), f)
PLUGIN

# --- 3. the runs --------------------------------------------------------------
tests=("${CORE_TESTS[@]}")
[[ $EXTENDED == 1 ]] && tests+=("${EXTENDED_TESTS[@]}")
runs=()
for reactor in $REACTORS; do
    for mode in baseline swapped; do
        name=$reactor-$mode
        log "pytest $name: ${#tests[@]} test files"
        start=$SECONDS
        rc=0
        (
            cd "$SRC"
            ARCHIVER_SWAP=$([[ $mode == swapped ]] && echo 1 || echo 0) \
            ARCHIVER_SWAP_REPORT=$OUT/$name.json \
            MITMDUMP=$MITMDUMP \
            PYTHONPATH=$WORK/plugin \
            "$WORK/venv/bin/python" -m pytest -p archiver_swap -p no:cacheprovider \
                --reactor="$reactor" --timeout=300 -rfEs \
                -m "not requires_internet" \
                --junitxml="$OUT/$name.xml" "${tests[@]}"
        ) >"$OUT/$name.log" 2>&1 || rc=$?
        log "  rc=$rc in $((SECONDS - start)) s: $(grep -E '^=+ .* in [0-9.]+s' "$OUT/$name.log" | tail -1 | tr -d '=')"
        runs+=("$name")
    done
done

# --- 4. comparison ------------------------------------------------------------
status=0
"$WORK/venv/bin/python" - "$OUT" $REACTORS <<'COMPARE' || status=$?
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

out, reactors = Path(sys.argv[1]), sys.argv[2:]


def outcomes(path):
    result = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child.tag
                message = (child.get("message") or "").splitlines()[0][:300] if child.get("message") else ""
        result[key] = (outcome, message)
    return result


bad = False
for reactor in reactors:
    base, swap = (outcomes(out / f"{reactor}-{m}.xml") for m in ("baseline", "swapped"))
    counts = {m: json.loads((out / f"{reactor}-{m}.json").read_text()) for m in ("baseline", "swapped")}
    tally = {m: {} for m in ("baseline", "swapped")}
    for m, res in (("baseline", base), ("swapped", swap)):
        for outcome, _ in res.values():
            tally[m][outcome] = tally[m].get(outcome, 0) + 1
    print(f"\n== reactor {reactor}")
    for m in ("baseline", "swapped"):
        print(f"   {m:8}: {tally[m]}  {counts[m]}")
    if counts["swapped"].get("built ArchivingHTTP11DownloadHandler", 0) == 0 or counts["swapped"].get(
        "built HTTP11DownloadHandler", 0
    ):
        print("   SWAP NOT EFFECTIVE: the swapped run did not use ArchivingHTTP11DownloadHandler only")
        bad = True
    if counts["baseline"].get("built ArchivingHTTP11DownloadHandler", 0):
        print("   BASELINE CONTAMINATED: it built ArchivingHTTP11DownloadHandler")
        bad = True
    regressions = [k for k in base if base[k][0] == "passed" and swap.get(k, ("missing",))[0] != "passed"]
    print(f"   passing at baseline, not passing with our handler: {len(regressions)}")
    for k in regressions:
        outcome, message = swap.get(k, ("missing", ""))
        print(f"     {outcome.upper()} {k}\n         {message}")
    bad |= bool(regressions)
    others = sorted(k for k in set(base) | set(swap) if k not in regressions and base.get(k, ("missing",))[0] != swap.get(k, ("missing",))[0])
    for k in others:
        print(f"   other change: {k}: {base.get(k, ('missing',))[0]} -> {swap.get(k, ('missing',))[0]}")
    base_failing = sorted(k for k, (o, _) in base.items() if o in ("failure", "error"))
    for k in base_failing:
        print(f"   failing at baseline too (environment?): {k}: {base[k][1]}")
sys.exit(1 if bad else 0)
COMPARE

log "done in $((SECONDS - t0)) s; logs and junit XML in $OUT"
exit "$status"
