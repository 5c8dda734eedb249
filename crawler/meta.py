"""The request meta keys of the archiver, in one place (all ``archiver_*``)."""

from __future__ import annotations

#: The input entry (:class:`~crawler.inputs.Seed`) a request fetches.
SEED_META = "archiver_seed"
#: The :class:`~crawler.archive.Capture` of the request's response, once archived.
CAPTURE_META = "archiver_capture"
#: The :class:`~crawler.warc.exchange.Exchange` archived for the request's response: the
#: stored status, header lines and still content-coded body that text is made from.
EXCHANGE_META = "archiver_exchange"
#: Set by the download handler: the raw response head, the reason phrase, the start time.
HEAD_META = "archiver_head"
REASON_META = "archiver_reason"
STARTED_META = "archiver_started"
#: The web archive capture a request fetches in place of a dead URL.
COPY_META = "archiver_archived_copy"
#: Why the URL itself failed, and its error response's capture, while a copy is looked for.
FAILURE_META = "archiver_original_failure"
#: Set by the replay download handler: the :class:`~crawler.replay.Replayed` capture served.
REPLAY_META = "archiver_replay"
#: Marks the archiver's own robots.txt requests (read up to ARCHIVER_ROBOTSTXT_MAX_SIZE).
ROBOTSTXT_META = "archiver_robotstxt"
#: The address a redirect came from, for the redirect guard's check of where it leads.
SOURCE_META = "archiver_redirect_source"
#: Set by a spider on requests whose callback reads no body (the archiver's own ``parse``:
#: text is made from the archived exchange): a cheap gzip body is then left as received,
#: Content-Encoding and all, instead of decoded for nothing.
LEAVE_CODED_META = "archiver_leave_coded"
