"""GitHub's rate-limit budget as a run sees it: read from every answer, never slept through.

GitHub puts `x-ratelimit-limit`, `-remaining`, `-used` and `-reset` on every REST answer. `RateBudget`
keeps the latest values and counts the run's requests (a 304 to a conditional request is free, as on
GitHub). `check()` runs before each request: once GitHub said nothing is left before the reset, the
request is refused at once with `RateLimitExhausted` (the scope becomes a COLLECT error) instead of
being sent into a 403 that PyGithub's retry would sleep through until the reset. `plan(n, what)`
records a warning when a collection needs more than is left. `document()` is what reports show.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


class RateLimitExhausted(RuntimeError):
    """GitHub's rate limit is used up until its reset: the request was not sent (nothing waits)."""

    def __init__(self, limit: int | None, reset: int | None) -> None:
        when = datetime.fromtimestamp(reset, UTC).isoformat().replace("+00:00", "Z") if reset else "its reset"
        super().__init__(f"GitHub rate limit exhausted (0 of {limit} left) until {when}: not waiting for the reset")


def _int(headers: Mapping[str, Any], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class RateBudget:
    """The core rate limit of one token, as its answers report it (thread-safe)."""

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = wall_clock
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset: int | None = None  # epoch seconds
        self.first_remaining: int | None = None  # before the run's first counted request
        self.requests = 0
        self.not_modified = 0
        self.warnings: list[str] = []

    def check(self) -> None:
        """Refuse a request when the last answer said nothing is left until a reset still ahead."""
        with self._lock:
            exhausted = self.remaining is not None and self.remaining <= 0
            if exhausted and (self.reset is None or self.reset > self._clock()):
                raise RateLimitExhausted(self.limit, self.reset)

    def observe(self, status: int, headers: Mapping[str, Any]) -> None:
        lowered = {str(k).lower(): v for k, v in headers.items()}
        remaining = _int(lowered, "x-ratelimit-remaining")
        with self._lock:
            self.requests += 1
            if status == 304:
                self.not_modified += 1
            if remaining is None:
                return
            if self.first_remaining is None:
                self.first_remaining = remaining + (0 if status == 304 else 1)
            self.remaining = remaining
            self.limit = _int(lowered, "x-ratelimit-limit") or self.limit
            self.reset = _int(lowered, "x-ratelimit-reset") or self.reset

    def plan(self, needed: int, what: str) -> None:
        """Say so (log and report) when `needed` requests exceed what is left."""
        with self._lock:
            left = self.remaining
        if left is not None and needed > left:
            text = f"{what} needs up to {needed} GitHub requests, {left} left until the reset: it may stop at the limit"
            log.warning(text)
            with self._lock:
                self.warnings.append(text)

    def document(self) -> dict[str, Any]:
        """`{"limit", "remaining", "reset", "requests", "not_modified", "cost", "warnings"}` for reports."""
        with self._lock:
            reset = datetime.fromtimestamp(self.reset, UTC).isoformat().replace("+00:00", "Z") if self.reset else None
            return {
                "limit": self.limit,
                "remaining": self.remaining,
                "reset": reset,
                "requests": self.requests,
                "not_modified": self.not_modified,
                "cost": self.requests - self.not_modified,  # what counted against the limit
                "warnings": list(self.warnings),
            }
