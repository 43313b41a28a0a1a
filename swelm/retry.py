"""The one retry policy of every network operation: the crawler's requests and Range reads
(corpus_tools.fetch), Common Crawl files read over HTTP, and object-store I/O
(pipelines.io).  Exponential backoff with a cap and jitter, ``Retry-After`` honoured up to a
limit, and one list of what is worth another try.

    >>> p = RetryPolicy(base=1.0, cap=8.0, jitter=False)
    >>> [p.wait(a) for a in range(5)]
    [1.0, 2.0, 4.0, 8.0, 8.0]
    >>> p.wait(0, retry_after="3"), p.wait(0, retry_after="600")
    (3.0, None)
    >>> retryable_http(503), retryable_http(404), retryable_http(None, "timeout")
    (True, False, True)
"""
from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

#: HTTP answers worth another try: too many requests and every server error
RETRYABLE_STATUS = frozenset({429}) | frozenset(range(500, 600))
#: request outcomes worth another try (corpus_tools.fetch.FetchResult.outcome)
RETRYABLE_OUTCOMES = frozenset({"timeout", "connection_error"})


def retryable_http(status: int | None, outcome: str = "ok") -> bool:
    """Whether a request that ended with ``status`` (None: no answer) and ``outcome`` is worth
    another try."""
    return outcome in RETRYABLE_OUTCOMES or (status or 0) in RETRYABLE_STATUS


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date); None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    """How many tries, and how long to wait between them."""
    attempts: int = 10              # tries in all (the first included)
    base: float = 0.5               # the first wait, doubled after each failure ...
    cap: float = 30.0               # ... up to this
    jitter: bool = True             # each wait times a random factor in [0.5, 1.5)
    max_retry_after: float = 60.0   # a longer Retry-After is not waited for: give up

    def wait(self, attempt: int, retry_after: str | float | None = None) -> float | None:
        """Seconds to wait after failed try ``attempt`` (0 = the first), at least what a
        ``Retry-After`` header (text or seconds) asks; None when that is over the limit."""
        w = min(self.cap, self.base * 2 ** attempt)
        if self.jitter:
            w *= 0.5 + random.random()
        if retry_after is not None:
            asked = (retry_after_seconds(retry_after) if isinstance(retry_after, str)
                     else float(retry_after))
            if asked is not None:
                if asked > self.max_retry_after:
                    return None
                w = max(w, asked)
        return w


#: object-store operations: the waits of ten tries add up to about two minutes, so a store
#: restart or a spell of 503 SlowDown is survived
STORE = RetryPolicy(attempts=10, base=0.5, cap=30.0)
