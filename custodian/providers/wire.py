"""Wire-level guards shared by the provider clients: read-only enforcement and API-call counting."""

from __future__ import annotations

import threading
from collections import Counter

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ReadOnlyViolation(RuntimeError):
    """A mutating request was attempted through a client built for a read-only (audit) run."""

    def __init__(self, method: str, url: str) -> None:
        super().__init__(f"refused {method} {url}: this client is read-only (audit mode)")
        self.method = method
        self.url = url


class CallCounter:
    """Counts API calls by provider and HTTP method (thread-safe); the real cost of a run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, provider: str, method: str, count: int = 1) -> None:
        with self._lock:
            self._counts[(provider, method.upper())] += count

    def by_provider(self) -> dict[str, int]:
        with self._lock:
            out: Counter[str] = Counter()
            for (provider, _), n in self._counts.items():
                out[provider] += n
            return dict(out)

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (provider, method), n in sorted(self._counts.items()):
                out.setdefault(provider, {})[method] = n
            return out

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


def check_method(method: str, url: str, read_only: bool) -> None:
    if read_only and method.upper() not in READ_METHODS:
        raise ReadOnlyViolation(method.upper(), url)
