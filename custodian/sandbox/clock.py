"""The sandbox clock: the scenario's notion of "now", shared by all emulators, and movable.

Scenario times are written relative to it ("now - 30h"); `advance` lets a demo or a test jump past
a grace period without sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """A thread-safe clock anchored at `start` (default: the real current time, UTC).

    Frozen by default (tests get exact times); with `ticking=True` it also follows real elapsed
    time, as the running sandbox does, so runs have distinct start and finish times.
    """

    def __init__(self, start: datetime | None = None, *, ticking: bool = False) -> None:
        anchor = start or datetime.now(UTC)
        if anchor.tzinfo is None:
            raise ValueError("SandboxClock needs a timezone-aware start time")
        self._now = anchor.astimezone(UTC)
        self._ticking = ticking
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            if self._ticking:
                return self._now + timedelta(seconds=time.monotonic() - self._since)
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._now += delta
        return self.now()

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("SandboxClock.set needs a timezone-aware time")
        with self._lock:
            self._now = when.astimezone(UTC)
            self._since = time.monotonic()


def iso(when: datetime | None) -> str | None:
    """ARM/GitHub style UTC timestamp (`2026-11-26T08:00:00Z`), or None."""
    if when is None:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
