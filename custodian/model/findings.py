"""Findings (what a rule says of one subject), holds, and costs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    HELD = "HELD"
    ERROR = "ERROR"
    FIXED = "FIXED"  # it was FAIL when collected; this run's own confirmed actions resolved it


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class HoldTarget(StrEnum):
    VERSION = "version"
    ACCOUNT = "account"


@dataclass(frozen=True)
class Hold:
    """A manager's hold: bars deleting (and marking) a version's objects, or one account, until `until`.

    A hold never keeps a credential working: L1/L2 revocation happens under a hold too.
    """

    hold_id: str
    target_type: HoldTarget
    target: str
    reason: str
    placed_by: str
    placed_at: datetime
    until: datetime
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None

    def active_at(self, now: datetime) -> bool:
        return self.released_at is None and self.placed_at <= now < self.until


@dataclass(frozen=True)
class Subject:
    """What a finding or an action is about, as reports show it.

    `kind` is a `ResourceKind` value for targets (`gh-sa`, `disk`, `blob`, ...); `scope` is the
    collection unit it belongs to (`github:acme`, a registry id, `/subscriptions/<id>`, `blob:<account>`).
    """

    provider: str
    kind: str
    provider_name: str
    logical_name: str | None = None
    version: str | None = None
    stage: str | None = None
    resource_id: str | None = None
    scope: str | None = None

    @property
    def short_label(self) -> str:
        """The provider name; a registry token's after its registry's name (registries share token names)."""
        parent = (self.scope or "").rstrip("/").rsplit("/registries/", 1)
        return f"{parent[1]}/{self.provider_name}" if len(parent) == 2 and parent[1] else self.provider_name


@dataclass(frozen=True)
class Cost:
    """An estimated monthly cost of a resource, with how it was estimated (for finance readers)."""

    monthly: Decimal
    currency: str
    basis: str  # e.g. "Standard_B2s 730h x 0.0416/h (price table 2026-11-01, eastus)"


@dataclass(frozen=True)
class Finding:
    rule: str
    status: Status
    severity: Severity
    subject: Subject
    message: str
    evidence: Mapping[str, str | None] = field(default_factory=dict)
    remediation: str = ""
    cost: Cost | None = None  # reaper findings (L4, O1-O6): what the object costs per month
