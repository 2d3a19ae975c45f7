"""A run: its header, what it collected (the inventory), and everything its reports are rendered from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from custodian.model.accounts import ServiceAccount
from custodian.model.actions import ActionRecord
from custodian.model.azure import AzureResource, Blob
from custodian.model.findings import Finding, Hold, Status
from custodian.model.reporting import ReportContext
from custodian.model.timeline import ReleaseTimeline
from custodian.model.vocabulary import Provider, Scope

TIMELINE_UNIT = "timeline"  # the release timeline's collection unit: incomplete, it blocks release actions


@dataclass(frozen=True)
class CollectionError:
    """A collection that failed or was throttled out: its unit is not known completely."""

    provider: Provider
    unit: str
    message: str
    scope: Scope | None = None


@dataclass(frozen=True)
class Inventory:
    """What one run collected: the timeline and every target, typed; what could not be collected.

    `populations` counts, per scope key, the objects inventoried there (the denominator of
    `max_actions_percent`); blobs are counted as listed, though only candidates are kept.
    """

    collected_at: datetime
    timeline: ReleaseTimeline
    accounts: tuple[ServiceAccount, ...] = ()
    resources: tuple[AzureResource, ...] = ()
    blobs: tuple[Blob, ...] = ()
    errors: tuple[CollectionError, ...] = ()
    populations: Mapping[str, int] = field(default_factory=dict)

    def unit_complete(self, unit: str) -> bool:
        return not any(e.unit == unit for e in self.errors)

    @property
    def timeline_complete(self) -> bool:
        return self.unit_complete(TIMELINE_UNIT)

    def incomplete_units(self) -> frozenset[str]:
        return frozenset(e.unit for e in self.errors)


class RunMode(StrEnum):
    AUDIT = "audit"
    ENFORCE = "enforce"


@dataclass(frozen=True)
class RunInfo:
    """The header of a run, as in findings.json's `run` object."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None
    mode: RunMode
    applied: bool
    config_digest: str
    tool_version: str
    as_of: datetime | None = None  # forecast time for `audit --as-of`
    trigger: str | None = None  # `schedule:<job>`, `event:<delivery id>`; None: started by a person
    version: str | None = None  # a version-scoped run (an event's hand-off) judged this version only

    @property
    def trigger_kind(self) -> str:
        """`event`, `schedule` or `manual` (started by a person, or a trigger of no known kind)."""
        return trigger_kind(self.trigger)


TRIGGER_KINDS = ("event", "schedule", "manual")


def trigger_kind(trigger: str | None) -> str:
    """The kind of a run's trigger: `event:<delivery>` -> event, `schedule:<job>` -> schedule, else manual."""
    kind = (trigger or "").partition(":")[0]
    return kind if kind in ("event", "schedule") else "manual"


@dataclass(frozen=True)
class PriceTableInfo:
    """Where a run's cost estimates come from (reports show it beside every cost figure)."""

    source: str
    retrieved: str  # the date the prices were compiled, e.g. "2026-11-26"
    region: str
    currency: str


@dataclass(frozen=True)
class RunResult:
    """Everything a report is rendered from."""

    run: RunInfo
    findings: tuple[Finding, ...]
    actions: tuple[ActionRecord, ...] = ()
    holds: tuple[Hold, ...] = ()
    stages: tuple[str, ...] = ("qa", "uat", "prod")
    price_table: PriceTableInfo | None = None  # set when the run estimated costs (the reaper ran)
    incomplete: tuple[str, ...] = ()  # why the run is incomplete (units not inventoried, actions not confirmed)
    context: ReportContext = field(default_factory=ReportContext)  # labels, rules and the cost trend for reports
    #: the run's provider calls and GitHub's rate-limit budget (`findings.json`'s `api`); empty: not shown
    api_usage: Mapping[str, Any] = field(default_factory=dict)

    @property
    def forecast(self) -> bool:
        """An audit evaluated at another time (`audit --as-of`): what would be due then, not what is."""
        return self.run.as_of is not None

    def counts(self) -> dict[str, int]:
        out = {status.value: 0 for status in Status}
        for finding in self.findings:
            out[finding.status.value] += 1
        return out
