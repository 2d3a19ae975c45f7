"""The ledger's rows: what it keeps (runs, journal entries, hold events), checked on the way in and
typed on the way out. Every value a caller gives is validated here (`LedgerInputError` names the
problem); nothing of an SDK or of SQLAlchemy's rows leaves this module."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum, StrEnum
from typing import Any, Final

from sqlalchemy import Connection, select
from sqlalchemy.engine import Row

from custodian.ledger import schema as t
from custodian.model import (
    Action,
    ActionKind,
    ActionOutcome,
    ActionRecord,
    Finding,
    Hold,
    HoldTarget,
    ResourceKind,
    RunInfo,
    RunMode,
    Scope,
    Severity,
    Status,
    Subject,
)


class LedgerInputError(ValueError):
    """A ledger call was given invalid input (the message names the problem); nothing was changed."""


class HoldEventKind(StrEnum):
    PLACED = "placed"
    RELEASED = "released"


@dataclass(frozen=True)
class RunRecord:
    """A run as the ledger holds it: its header, and once finished its outcome and counts."""

    info: RunInfo
    outcome: str | None  # None while running; `crashed` once the next applied run found it dead
    counts: Mapping[str, int] = field(default_factory=dict)
    costs: Mapping[str, Any] | None = None  # its cost totals (findings.json `costs`), when it recorded them

    @property
    def finished(self) -> bool:
        return self.outcome is not None


@dataclass(frozen=True)
class JournalEntry:
    """One row of the action journal: which run wrote it and what it says."""

    entry_id: int
    run_id: str
    record: ActionRecord


@dataclass(frozen=True)
class HoldEvent:
    """A hold being placed or released, as journaled."""

    hold_id: str
    event: HoldEventKind
    by: str
    reason: str
    at: datetime


SUBJECT_NAMES: Final = tuple(f.name for f in dataclasses.fields(Subject))
SUBJECT_FIELDS: Final = frozenset(SUBJECT_NAMES)


def finding_key(finding: Finding) -> str:
    """The stable identity of a finding across runs: its rule and its subject (not its status).

    Subject fields that are None are left out, so adding an optional field to `Subject` keeps keys.
    """
    identity = {name: value for name in SUBJECT_NAMES if (value := getattr(finding.subject, name)) is not None}
    canonical = json.dumps([finding.rule, identity], sort_keys=True, separators=(",", ":"))
    return f"{finding.rule}:{hashlib.sha256(canonical.encode()).hexdigest()[:24]}"


def require_run(conn: Connection, run_id: str) -> None:
    if conn.execute(select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
        raise LedgerInputError(f"no run {run_id!r} in the ledger")


def aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise LedgerInputError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise LedgerInputError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def aware_or_none(name: str, value: datetime | None) -> datetime | None:
    return None if value is None else aware(name, value)


def checked_text(name: str, value: str, max_len: int | None, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise LedgerInputError(f"{name} must be a string, got {type(value).__name__}")
    stripped = value.strip()
    if not stripped and not allow_empty:
        raise LedgerInputError(f"{name} must not be empty")
    if max_len is not None and len(stripped) > max_len:
        raise LedgerInputError(f"{name} is longer than {max_len} characters")
    return stripped


def counts_json(counts: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise LedgerInputError(f"count {key!r} must be an integer, got {value!r}")
        out[str(key)] = value
    return out


def hold_target(value: HoldTarget | str) -> HoldTarget:
    try:
        return HoldTarget(value)
    except ValueError:
        allowed = ", ".join(member.value for member in HoldTarget)
        raise LedgerInputError(f"hold target type {value!r} is not one of: {allowed}") from None


def duration_text(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + (" ".join(parts) or "0s")


def jsonable(value: object, path: str) -> Any:
    """`value` as plain JSON (datetimes as ISO strings, enums as values), or LedgerInputError."""
    if isinstance(value, Enum):
        return jsonable(value.value, path)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise LedgerInputError(f"{path} is not JSON-able: {type(value).__name__}")


def subject_json(subject: Subject) -> dict[str, str | None]:
    # plain fields, no `dataclasses.asdict` (it deep-copies each value: the bulk of a large run's insert)
    return {name: (None if (value := getattr(subject, name)) is None else str(value)) for name in SUBJECT_NAMES}


def subject_of_json(data: Mapping[str, Any]) -> Subject:
    return Subject(**{name: value for name, value in data.items() if name in SUBJECT_FIELDS})


def finding_row(finding: Finding) -> dict[str, Any]:
    rule = checked_text("finding rule", finding.rule, 100)
    return {
        "finding_key": finding_key(finding),
        "rule": rule,
        "status": Status(finding.status).value,
        "severity": Severity(finding.severity).value,
        "subject": subject_json(finding.subject),
        "message": str(finding.message),
        "evidence": jsonable(finding.evidence, "evidence"),
        "remediation": str(finding.remediation),
    }


def finding_of_row(row: Row[Any]) -> Finding:
    return Finding(
        rule=row.rule,
        status=Status(row.status),
        severity=Severity(row.severity),
        subject=subject_of_json(row.subject),
        message=row.message,
        evidence=dict(row.evidence),
        remediation=row.remediation,
    )


def run_record(row: Row[Any]) -> RunRecord:
    info = RunInfo(
        run_id=row.id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        mode=RunMode(row.mode),
        applied=bool(row.applied),
        config_digest=row.config_digest,
        tool_version=row.tool_version,
        as_of=row.as_of,
        trigger=row.trigger,
    )
    return RunRecord(info=info, outcome=row.outcome, counts=dict(row.counts or {}), costs=row.costs)


def plan_json(action: Action) -> dict[str, Any]:
    return {
        "scope": action.scope.key if action.scope is not None else None,
        "target_kind": action.target_kind.value,
        "target": action.target,
        "not_before": action.not_before.isoformat() if action.not_before else None,
        "after": list(action.after),
        "params": [list(pair) for pair in action.params],
    }


def action_of_row(row: Row[Any]) -> Action:
    subject = subject_of_json(row.subject)
    plan = row.plan if isinstance(row.plan, dict) else {}
    scope = plan.get("scope")
    not_before = plan.get("not_before")
    return Action(
        kind=ActionKind(row.kind),
        subject=subject,
        rule=row.rule,
        reason=row.reason,
        scope=Scope.parse(scope) if scope else None,
        target_kind=ResourceKind(plan.get("target_kind") or subject.kind),
        target=str(plan.get("target") or subject.resource_id or subject.provider_name),
        not_before=datetime.fromisoformat(not_before) if not_before else None,
        after=tuple(plan.get("after") or ()),
        params=tuple((str(k), str(v)) for k, v in plan.get("params") or ()),
    )


def journal_entry(row: Row[Any]) -> JournalEntry:
    action = action_of_row(row)
    record = ActionRecord(
        action=action, outcome=ActionOutcome(row.outcome), at=row.at, detail=row.detail, snapshot=dict(row.snapshot)
    )
    return JournalEntry(entry_id=int(row.id), run_id=row.run_id, record=record)


def hold_of_row(row: Row[Any]) -> Hold:
    return Hold(
        hold_id=row.id,
        target_type=HoldTarget(row.target_type),
        target=row.target,
        reason=row.reason,
        placed_by=row.placed_by,
        placed_at=row.placed_at,
        until=row.until,
        released_at=row.released_at,
        released_by=row.released_by,
        release_reason=row.release_reason,
    )
