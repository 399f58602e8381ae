"""Retries for transient API errors: exponential backoff with full jitter.

Retried: HTTP 429 (honouring ``Retry-After``), every 5xx, and dropped or
refused connections. Never retried: any other 4xx (an invalid job, a quota
refusal, missing permissions or a missing job will not fix themselves).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

T = TypeVar("T")

# Connection failures worth another try. urllib3 is imported lazily so that
# the pure parts of the SDK import without it.
_CONNECTION_ERRORS = (ConnectionResetError, ConnectionAbortedError, ConnectionRefusedError, BrokenPipeError)


def _transient_connection_error(err: BaseException) -> bool:
    seen = set()
    e: Optional[BaseException] = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, _CONNECTION_ERRORS):
            return True
        try:
            from urllib3 import exceptions as u3
        except ImportError:  # pragma: no cover - urllib3 comes with kubernetes
            return False
        if isinstance(e, (u3.ProtocolError, u3.NewConnectionError)):
            return True
        if isinstance(e, u3.MaxRetryError):
            e = e.reason
            continue
        e = e.__cause__ or e.__context__
    return False


def http_status(err: BaseException) -> Optional[int]:
    """The HTTP status of an ``ApiException`` (or anything with ``.status``), else None."""
    status = getattr(err, "status", None)
    return status if isinstance(status, int) and status > 0 else None


@dataclass(frozen=True)
class RetryPolicy:
    """How API calls are retried.

    Attempt ``n`` (from 1) that fails transiently sleeps a random time in
    ``[0, min(max_backoff, initial_backoff * multiplier ** (n - 1))]`` ("full
    jitter") before the next one, or the server's ``Retry-After`` (capped at
    ``max_retry_after``) when it is longer. ``max_attempts=1`` disables retries.

    Attributes:
        max_attempts: attempts in all, the first included.
        initial_backoff: seconds, the cap of the first sleep.
        max_backoff: seconds, the largest cap of any sleep.
        multiplier: how the cap grows per attempt.
        max_retry_after: the longest ``Retry-After`` honoured, in seconds.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    multiplier: float = 2.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise ValueError("backoffs must not be negative and multiplier must be at least 1")

    def is_transient(self, err: BaseException) -> bool:
        """Whether ``err`` is worth retrying: 429, 5xx, or a dropped/refused connection."""
        status = http_status(err)
        if status is not None:
            return status == 429 or status >= 500
        return _transient_connection_error(err)

    def backoff(self, attempt: int, rnd: Callable[[], float] = random.random) -> float:
        """The sleep after failed attempt ``attempt`` (1-based), with full jitter."""
        cap = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        return cap * rnd()

    def retry_after(self, err: BaseException) -> float:
        """The server's ``Retry-After`` seconds on a 429/503, capped; 0 if none."""
        headers = getattr(err, "headers", None)
        if not headers:
            return 0.0
        try:
            value = headers.get("Retry-After")
        except AttributeError:
            return 0.0
        try:
            return max(0.0, min(float(value), self.max_retry_after))
        except (TypeError, ValueError):
            return 0.0

    def call(
        self,
        fn: Callable[[], T],
        *,
        sleep: Callable[[float], None] = time.sleep,
        rnd: Callable[[], float] = random.random,
        on_retry: Optional[Callable[[int, BaseException, float], None]] = None,
    ) -> T:
        """Call ``fn`` until it succeeds, fails for good, or attempts run out;
        the last error is raised as it was."""
        attempt = 1
        while True:
            try:
                return fn()
            except Exception as err:  # noqa: BLE001 - classified below, re-raised unless transient
                if attempt >= self.max_attempts or not self.is_transient(err):
                    raise
                delay = max(self.backoff(attempt, rnd), self.retry_after(err))
                if on_retry is not None:
                    on_retry(attempt, err, delay)
                sleep(delay)
                attempt += 1


NO_RETRY = RetryPolicy(max_attempts=1)
"""A policy that never retries."""
