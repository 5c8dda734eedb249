"""Scrapy settings of the archiver. Every ARCHIVER_* setting is described in the README."""

from __future__ import annotations

from crawler import __version__
from crawler.layout import default_root

BOT_NAME = "archiver"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
COMMANDS_MODULE = "crawler.commands"

# -- the archive ---------------------------------------------------------------
ARCHIVER_DIR = default_root()
ARCHIVER_WARC_MAX_SIZE = 1_000_000_000
ARCHIVER_WARC_PREFIX = "archiver"
ARCHIVER_WARC_GZIP_LEVEL = 6
ARCHIVER_OPERATOR = ""
ARCHIVER_COLLECTION = ""

# -- text ----------------------------------------------------------------------
ARCHIVER_TEXT_ENABLED = True
ARCHIVER_EXTRACT_WORKERS = 0  # 0: one per CPU core
ARCHIVER_EXTRACT_TIMEOUT = 30.0
ARCHIVER_EXTRACT_FUNCTION = "crawler.extract.page.extract_page"

# -- reading the input ---------------------------------------------------------
# At most this many input entries read and not yet settled (fetched and indexed, or given
# another outcome); the spider reads on as they settle. 0: no limit (memory grows with the input).
ARCHIVER_START_AHEAD = 2000

# -- resuming ------------------------------------------------------------------
# Skip the input entries that interrupted crawls of the same input already did.
ARCHIVER_RESUME = False

# -- recrawls ------------------------------------------------------------------
# Ask with If-None-Match / If-Modified-Since from the URL's last good capture in the index.
ARCHIVER_CONDITIONAL_ENABLED = True
# Archive a response that repeats the last good capture as a revisit record (no body).
ARCHIVER_REVISITS_ENABLED = True
# Fetch only URLs whose last good capture is older than this duration (--due 6h); empty: all.
ARCHIVER_DUE = ""

# -- offline replay ------------------------------------------------------------
# An archive folder to serve responses from instead of the network (--replay).
ARCHIVER_REPLAY = ""
# The moment to replay: the capture closest to it is served (--at); empty: the latest.
ARCHIVER_REPLAY_AT = ""

# -- page requisites -----------------------------------------------------------
# Also archive the images, stylesheets and scripts a page references (--requisites).
ARCHIVER_REQUISITES = False
# Whose requisites: "all" hosts (CDNs too, or pages replay unstyled) or the page's "same" host.
ARCHIVER_REQUISITES_HOSTS = "all"
# At most this many requisites a page, stylesheets and scripts first.
ARCHIVER_REQUISITES_MAX = 100

# -- archived copies of dead URLs ---------------------------------------------
ARCHIVER_ARCHIVED_FALLBACK = False
ARCHIVER_WAYBACK_URL = "https://web.archive.org"

# -- progress and report -------------------------------------------------------
# Seconds between progress lines in the log when standard error is no terminal (on a
# terminal, a progress bar); 0 turns progress off.
ARCHIVER_PROGRESS_INTERVAL = 60.0
# Scrapy's start-up banner, settings, component lists and stats dump at DEBUG (-L DEBUG
# shows them); False gives Scrapy's usual output.
ARCHIVER_QUIET = True
# The end report: logged, and written to DIR/reports/crawl-<crawl id>.json and latest.json.
ARCHIVER_REPORT_ENABLED = True

# -- distributed crawls ------------------------------------------------------------
# The Redis shared by the workers of a distributed crawl (archiver crawl --redis URL feeds it,
# archiver worker --redis URL crawls from it); empty: no Redis.
ARCHIVER_REDIS_URL = ""
# Feed the input into the frontier at ARCHIVER_REDIS_URL instead of crawling it (--redis).
ARCHIVER_FRONTIER_FEED = False
# The feed waits while this many entries are queued (Redis memory, see the README); 0: no limit.
ARCHIVER_FRONTIER_MAX_QUEUED = 0
# A worker leases at most this many entries at once; a dead worker's leases return to the
# queue this many seconds after their last renewal (a worker renews every third of it).
ARCHIVER_FRONTIER_PREFETCH = 64
ARCHIVER_FRONTIER_LEASE_TTL = 60.0
# A worker waits for more entries once the frontier is done (--keep-running).
ARCHIVER_FRONTIER_KEEP_RUNNING = False
# Set by archiver worker from DIR/worker-id: names the worker's leases and WARC files.
ARCHIVER_WORKER_ID = ""

# -- politeness ----------------------------------------------------------------
USER_AGENT = f"archiver/{__version__} (web archiving crawler; Scrapy)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
# Items of one response processed at once. Scrapy starts this many tasks for every
# response's output (default 100); a page gives one item and its requisites, so 100
# tasks cost a quarter of an archive-only crawl's time (bench/crawl.py) for nothing.
CONCURRENT_ITEMS = 8
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 60
RETRY_TIMES = 2
# Scrapy ignores robots.txt Crawl-delay and Retry-After; the archiver honours both, per host,
# up to these limits in seconds (a robots.txt asking for an hour must not stall the crawl).
ARCHIVER_MAX_CRAWL_DELAY = 60.0  # 0: ignore Crawl-delay
ARCHIVER_RETRY_AFTER_ENABLED = True
ARCHIVER_MAX_RETRY_AFTER = 300.0  # a longer Retry-After fails the request at once
# Scrapy 2.19 lets more than CONCURRENT_REQUESTS_PER_DOMAIN run at once with no delay; the
# archiver holds the limit (see crawler/downloadermiddlewares/hostslots.py). With
# ARCHIVER_REDIS_URL set, the limit, the delays and Retry-After hold across all workers, and a
# dead worker's slots come back after this many seconds without renewal.
ARCHIVER_HOST_SLOTS_ENABLED = True
ARCHIVER_HOST_SLOT_TTL = 60.0
# Read at most this much of a robots.txt, in bytes (Google reads 500 KiB); stop downloading there.
ARCHIVER_ROBOTSTXT_MAX_SIZE = 512_000
# Follow redirects from a public address to a private, loopback or other non-global one.
ARCHIVER_REDIRECT_TO_PRIVATE = False
# Resolves IPv6 as well as IPv4 (Scrapy's default resolver is IPv4 only); DNS_TIMEOUT does not
# apply to it: DOWNLOAD_TIMEOUT bounds a slow lookup.
TWISTED_DNS_RESOLVER = "scrapy.resolver.CachingHostnameResolver"

# Bodies are archived as they come: ask only for the encodings that warcio and the
# usual replay tools can read (not brotli or zstd, which Scrapy would otherwise offer).
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
    "Accept-Encoding": "gzip, deflate",
}

# -- components ----------------------------------------------------------------
DOWNLOAD_HANDLERS = {
    "http": "crawler.handlers.http11.ArchivingHTTP11DownloadHandler",
    "https": "crawler.handlers.http11.ArchivingHTTP11DownloadHandler",
}
# Switches a crawl to the archive when ARCHIVER_REPLAY is set (see crawler/addons.py).
ADDONS = {
    "crawler.addons.ReplayAddon": 0,
}
EXTENSIONS = {
    "crawler.extensions.archive.ArchiveExtension": 100,
    # Gives an outcome to every input entry that a component drops (see its module).
    "crawler.extensions.ledger.InputLedger": 110,
    # Progress and the end report (see "progress and report" above). Progress ends before
    # ArchiveExtension, so that its total is in the crawl's archived stats; the report after
    # it, since it reports how ArchiveExtension ended the crawl.
    "crawler.extensions.progress.Progress": 90,
    "crawler.extensions.report.CrawlReport": 130,
}
# Spiders get bodies decoded up to this many bytes (the raw body is archived whatever its
# size); a larger one drops the response with a reason. Heavy decoding runs in a thread.
ARCHIVER_MAX_DECODED_SIZE = 64 * 1024 * 1024
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    # Scrapy's decompression with ARCHIVER_MAX_DECODED_SIZE, heavy bodies off the reactor.
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.downloadermiddlewares.decompression.DecompressionMiddleware": 590,
    # Scrapy's, reading the start of a page whose body decompression left for its reader.
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.downloadermiddlewares.metarefresh.MetaRefreshMiddleware": 580,
    # Before robots.txt: a redirect into private address space is refused before anything
    # is asked of its host.
    "crawler.downloadermiddlewares.redirectguard.RedirectGuardMiddleware": 50,
    "crawler.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": 100,
    # Sees 429/503 before Scrapy's RetryMiddleware (550), to retry them after their Retry-After.
    "crawler.downloadermiddlewares.retryafter.RetryAfterMiddleware": 560,
    # Between the guard and decompression (590): a 304 to its own conditional request
    # becomes the archived page, still content-coded, before anything else sees it.
    "crawler.downloadermiddlewares.conditional.ConditionalMiddleware": 900,
    # Just outside the guard: a request takes its host's slot only on its way to the network.
    "crawler.downloadermiddlewares.hostslots.HostSlotsMiddleware": 950,
    # Closest to the downloader: sees each response and error before any other.
    "crawler.downloadermiddlewares.guard.ArchiveGuardMiddleware": 1000,
}
SPIDER_MIDDLEWARES = {
    # Closer to the spider than Scrapy's own, so that its requests get their Referer and depth.
    "crawler.spidermiddlewares.requisites.RequisitesMiddleware": 950,
}
ITEM_PIPELINES = {
    "crawler.pipelines.text.TextPipeline": 500,
    "crawler.pipelines.seeds.SeedIndexPipeline": 900,
}

TELNETCONSOLE_ENABLED = False
# The archiver's spiders return nothing from their generators; the check reads each
# callback's source at start.
WARN_ON_GENERATOR_RETURN_VALUE = False
# Scrapy's remote control runs code sent over HTTP; a crawler of other sites has no use for it.
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"
