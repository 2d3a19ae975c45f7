"""GitHub's rate-limit budgets as a run sees them: read from every answer, never slept through.

GitHub puts `x-ratelimit-limit`, `-remaining`, `-used`, `-reset` and `-resource` on every answer;
REST counts requests against `core`, GraphQL counts points against its own `graphql` budget.
`RateBudget` keeps the latest values of each and counts the run's requests (a 304 to a conditional
request is free, as on GitHub) and GraphQL points (`graphql_points`, from each answer's
`rateLimit { cost }`). `check(resource)` runs before each request: once GitHub said nothing is left
of that resource before its reset, the request is refused at once with `RateLimitExhausted` (the
scope becomes a COLLECT error) instead of being sent into a 403 that PyGithub's retry would sleep
through until the reset. `plan(n, what)` and `warn(text)` record what the run had to say about its
budget (a collection needing more than is left; revocations put first: `custodian.run.priority`).
`document()` is what reports show: the core budget at the top level, the GraphQL budget under `graphql`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


class RateLimitExhausted(RuntimeError):
    """GitHub's rate limit is used up until its reset: the request was not sent (nothing waits)."""

    def __init__(self, limit: int | None, reset: int | None) -> None:
        when = _iso(reset) or "its reset"
        super().__init__(f"GitHub rate limit exhausted (0 of {limit} left) until {when}: not waiting for the reset")


def _int(headers: Mapping[str, Any], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass
class ResourceBudget:
    """One rate-limit resource (`core`, `graphql`) as its last answer reported it."""

    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None  # epoch seconds
    first_remaining: int | None = None  # before the run's first counted request
    requests: int = 0
    points: int = 0  # GraphQL: the points the run's queries cost

    def document(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": _iso(self.reset),
            "requests": self.requests,
            "cost": self.points,
        }


def _iso(reset: int | None) -> str | None:
    return datetime.fromtimestamp(reset, UTC).isoformat().replace("+00:00", "Z") if reset else None


class RateBudget:
    """The rate limits of one token, as its answers report them (thread-safe)."""

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = wall_clock
        self.core = ResourceBudget()
        self.graphql = ResourceBudget()
        self.not_modified = 0
        self.free = 0  # requests GitHub does not count (`GET /rate_limit`)
        self.warnings: list[str] = []

    # the core budget's values, as before GraphQL had its own
    @property
    def limit(self) -> int | None:
        return self.core.limit

    @property
    def remaining(self) -> int | None:
        return self.core.remaining

    @property
    def reset(self) -> int | None:
        return self.core.reset

    @property
    def requests(self) -> int:
        return self.core.requests + self.graphql.requests

    @property
    def first_remaining(self) -> int | None:
        return self.core.first_remaining

    def _resource(self, name: str) -> ResourceBudget:
        return self.graphql if name == "graphql" else self.core

    def check(self, resource: str = "core") -> None:
        """Refuse a request when the last answer said nothing is left of `resource` until a reset still ahead."""
        with self._lock:
            budget = self._resource(resource)
            exhausted = budget.remaining is not None and budget.remaining <= 0
            if exhausted and (budget.reset is None or budget.reset > self._clock()):
                raise RateLimitExhausted(budget.limit, budget.reset)

    def observe(self, status: int, headers: Mapping[str, Any]) -> None:
        lowered = {str(k).lower(): v for k, v in headers.items()}
        remaining = _int(lowered, "x-ratelimit-remaining")
        with self._lock:
            budget = self._resource(str(lowered.get("x-ratelimit-resource") or "core"))
            budget.requests += 1
            if status == 304:
                self.not_modified += 1
            if remaining is None:
                return
            if budget.first_remaining is None:
                budget.first_remaining = remaining + (0 if status == 304 else 1)
            budget.remaining = remaining
            budget.limit = _int(lowered, "x-ratelimit-limit") or budget.limit
            budget.reset = _int(lowered, "x-ratelimit-reset") or budget.reset

    def not_counted(self) -> None:
        """The last request was one GitHub does not count (`GET /rate_limit`)."""
        with self._lock:
            self.free += 1

    def graphql_points(self, cost: int) -> None:
        """Count what a GraphQL query cost (its answer's `rateLimit { cost }`)."""
        with self._lock:
            self.graphql.points += cost

    def plan(self, needed: int, what: str) -> None:
        """Say so (log and report) when `needed` requests exceed what is left."""
        with self._lock:
            left = self.core.remaining
        if left is not None and needed > left:
            text = f"{what} needs up to {needed} GitHub requests, {left} left until the reset: it may stop at the limit"
            log.warning(text)
            with self._lock:
                self.warnings.append(text)

    def warn(self, text: str) -> None:
        log.warning(text)
        with self._lock:
            self.warnings.append(text)

    def document(self) -> dict[str, Any]:
        """`{"limit", "remaining", "reset", "requests", "not_modified", "cost", "warnings", "graphql"}`.

        The top level is the core (REST) budget (`cost`: requests that counted against it, a 304
        being free); `graphql` is `{"limit", "remaining", "reset", "requests", "cost"}` (`cost` in points).
        """
        with self._lock:
            return {
                "limit": self.core.limit,
                "remaining": self.core.remaining,
                "reset": _iso(self.core.reset),
                "requests": self.core.requests,
                "not_modified": self.not_modified,
                "cost": self.core.requests - self.not_modified - self.free,
                "warnings": list(self.warnings),
                "graphql": self.graphql.document(),
            }


def budget_lines(document: Mapping[str, Any]) -> list[str]:
    """The terminal summary of a run's `document()`: what it used and what is left, then its warnings."""
    if not document or (document.get("limit") is None and not (document.get("graphql") or {}).get("limit")):
        return []
    counted = f"{document.get('cost', 0)} requests counted ({document.get('not_modified', 0)} answered 304, free)"
    core = f"GitHub rate limit: {counted}"
    if document.get("limit") is not None:
        core += f", {document.get('remaining')} of {document.get('limit')} left until {document.get('reset')}"
    graphql = document.get("graphql") or {}
    if graphql.get("requests"):
        core += f"; GraphQL {graphql.get('cost', 0)} points"
        if graphql.get("limit") is not None:
            core += f", {graphql.get('remaining')} of {graphql.get('limit')} left"
    return [core, *(f"  {text}" for text in document.get("warnings") or [])]
