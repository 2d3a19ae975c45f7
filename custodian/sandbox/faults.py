"""Fault injection shared by the emulators: throttling, server errors, latency, short and looping pages,
dropped connections (the request is carried out, its answer never sent).

A `FaultPlan` says what to inject; a `FaultInjector` draws decisions from a seeded random generator,
so a run with the same seed and the same request sequence injects the same faults.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field, fields
from enum import StrEnum


class FaultKind(StrEnum):
    """What an emulator should do instead of (or on top of) answering normally."""

    THROTTLE = "throttle"
    SERVER_ERROR = "server_error"
    TRUNCATE = "truncate"
    LOOP_NEXT = "loop_next"  # a list page whose next link points back at itself (a hostile provider)
    DROP = "drop"  # the request is carried out, then the connection closes without an answer


class FaultSpecError(ValueError):
    """A fault specification string or value is malformed."""


@dataclass(frozen=True)
class FaultPlan:
    """Fractions (0..1) of requests that get each fault, plus latency, all deterministic with `seed`.

    `path_regex` and `methods` restrict which requests are eligible (all when empty).
    `truncate` only applies to list responses: the page is cut short and loses its next link.
    `loop_next` only applies to list responses: the page is whole, and its next link (ARM's
    `nextLink`, GitHub's `Link: rel="next"`) is the URL of the request itself, so a client that
    follows it blindly never ends. `drop` applies to any request: the emulator carries it out, then
    closes the connection without answering (a response lost on the way back).
    """

    throttle: float = 0.0
    server_error: float = 0.0
    truncate: float = 0.0
    loop_next: float = 0.0
    drop: float = 0.0
    latency_ms: int = 0
    retry_after: int = 1
    seed: int = 0
    path_regex: str = ""
    methods: tuple[str, ...] = ()
    error_status: int = 500

    def __post_init__(self) -> None:
        for name in ("throttle", "server_error", "truncate", "loop_next", "drop"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultSpecError(f"fault '{name}' must be a fraction between 0 and 1, got {value}")
        if self.throttle + self.server_error > 1.0:
            raise FaultSpecError("fault fractions 'throttle' + 'server_error' must not exceed 1")
        if self.latency_ms < 0:
            raise FaultSpecError(f"fault 'latency_ms' must be >= 0, got {self.latency_ms}")
        if self.retry_after < 1:
            raise FaultSpecError(
                f"fault 'retry_after' must be >= 1 second (azure-core treats 0 as absent), got {self.retry_after}"
            )
        if self.error_status not in (500, 502, 503, 504):
            raise FaultSpecError(f"fault 'error_status' must be 500, 502, 503 or 504, got {self.error_status}")
        if self.path_regex:
            try:
                re.compile(self.path_regex)
            except re.error as exc:
                raise FaultSpecError(f"fault 'path_regex' is not a valid regular expression: {exc}") from exc

    @property
    def active(self) -> bool:
        return bool(
            self.throttle or self.server_error or self.truncate or self.loop_next or self.drop or self.latency_ms
        )

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """Parse `throttle=0.33,server_error=0.05,latency_ms=20,truncate=0.1,seed=7,methods=GET|DELETE`."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for raw in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, text = raw.partition("=")
            key = key.strip()
            if not sep:
                raise FaultSpecError(f"fault setting '{raw}' must look like key=value")
            if key not in known:
                raise FaultSpecError(f"unknown fault setting '{key}' (known: {', '.join(sorted(known))})")
            values[key] = _convert(key, text.strip())
        return cls(**values)  # type: ignore[arg-type]


def _convert(key: str, text: str) -> object:
    try:
        if key in ("throttle", "server_error", "truncate", "loop_next", "drop"):
            return float(text)
        if key in ("latency_ms", "retry_after", "seed", "error_status"):
            return int(text)
    except ValueError as exc:
        raise FaultSpecError(f"fault setting '{key}' has an invalid number: {text!r}") from exc
    if key == "methods":
        return tuple(m.strip().upper() for m in text.split("|") if m.strip())
    return text


@dataclass
class FaultDecision:
    """The outcome for one request: a fault kind (or None) and the latency to add."""

    kind: FaultKind | None
    latency_s: float


@dataclass
class FaultInjector:
    """Draws per-request fault decisions from a plan; thread-safe and deterministic for a seed."""

    plan: FaultPlan = field(default_factory=FaultPlan)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.plan.seed)
        self._pattern = re.compile(self.plan.path_regex, re.IGNORECASE) if self.plan.path_regex else None

    def replace(self, plan: FaultPlan) -> None:
        """Switch to a new plan (and restart its random sequence)."""
        with self._lock:
            self.plan = plan
            self._rng = random.Random(plan.seed)
            self._pattern = re.compile(plan.path_regex, re.IGNORECASE) if plan.path_regex else None

    def decide(self, method: str, path: str, is_list: bool) -> FaultDecision:
        plan = self.plan
        latency = plan.latency_ms / 1000.0
        if not plan.active:
            return FaultDecision(None, 0.0)
        if plan.methods and method.upper() not in plan.methods:
            return FaultDecision(None, latency)
        if self._pattern is not None and not self._pattern.search(path):
            return FaultDecision(None, latency)
        with self._lock:
            draw = self._rng.random()
            trunc_draw = self._rng.random()
            # drawn only when asked for, so that the sequences of plans without it stay as they were
            loop_draw = self._rng.random() if plan.loop_next else 1.0
            drop_draw = self._rng.random() if plan.drop else 1.0
        if draw < plan.throttle:
            return FaultDecision(FaultKind.THROTTLE, latency)
        if draw < plan.throttle + plan.server_error:
            return FaultDecision(FaultKind.SERVER_ERROR, latency)
        if is_list and trunc_draw < plan.truncate:
            return FaultDecision(FaultKind.TRUNCATE, latency)
        if is_list and loop_draw < plan.loop_next:
            return FaultDecision(FaultKind.LOOP_NEXT, latency)
        if drop_draw < plan.drop:
            return FaultDecision(FaultKind.DROP, latency)
        return FaultDecision(None, latency)
