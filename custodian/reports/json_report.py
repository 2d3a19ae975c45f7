"""`findings.json`: the canonical report document.

Its top level is a contract that other tools read; keys may be added, none renamed or removed::

    {
      "schema_version": 1,
      "run": {"id", "started_at", "finished_at", "mode", "applied", "config_digest",
              "tool_version", "counts", "verdict", "stages", ["as_of"], ["trigger"], ["version"]},
      "findings": [{"rule", "status", "severity", "subject", "message", "evidence", "remediation"}],
      "actions":  [{"kind", "key", "rule", "reason", "outcome", "at", "detail", "subject"}],
      "holds":    [{"id", "target_type", "target", "reason", "placed_by", "placed_at", "until",
                    "released_at", "released_by", "release_reason", "active", "state"}],
      "tag_holds": [{"tag", "subject", "rules", "cost"}],
      "costs":    {"currency", "found", "reclaimed", "held", "needs_decision", "items", "per_year",
                   "needs_decision_items", "incomplete", "by_rule", "by_stage", "by_version",
                   "by_type", "by_subscription", "price_table", ["other_currencies"]}
    }

`subject` is `{"provider", "kind", "provider_name", "logical_name", "version", "stage",
"resource_id", "scope"}` (absent values are null). Timestamps are ISO 8601 in UTC with a `Z`
suffix; `finished_at` is null for a run that did not finish; `as_of` is present only for a
forecast audit; `trigger` (`schedule:<job>` or `event:<delivery id>`) only for a run the service
started, `version` only for a version-scoped run (an event's hand-off). `counts` has every
status, worst first. A hold's `active` is judged at `as_of` when set, else at `started_at`.
Ordering is deterministic (see `custodian.reports.common`).

Each finding also has `cost`: `{"monthly", "currency", "basis"}` (the estimated monthly cost,
a decimal string such as "12.34") or null. `costs` holds the run's sums for finance (see
`custodian.reports.costs`): `found` (FAIL), `reclaimed` (deleted and confirmed), `held`
(HELD) and `needs_decision` (WARN: report only, and it costs money) as decimal strings per month
in `currency`, `per_year` the same four x12; `needs_decision_items` lists what needs a decision
(`{"name", "type", "subscription", "subscription_name", "resource_group", "rule", "owner",
"cost_center", "monthly", "currency", "why", "resource_id"}`); `incomplete` is null, or says how
many scopes were not inventoried; each `by_*` maps a rule, stage, version, resource type or
subscription (the scope when a resource has no subscription, e.g. a storage account) to
`{"found", "reclaimed", "held", "needs_decision", "items"}`; `price_table` is `{"source",
"retrieved", "region", "currency"}` or null for an unpriced run (then the sums are "0.00" and
`currency` is null). `tag_holds` lists the objects kept by their hold tag (`reaper.hold_tag`), one
per object: the tag as written (`key=value`), the subject, the rules held off, its `cost` or null.

`api` (present when the run recorded it): `{"calls": {provider: {method: n}}, "github": {"limit",
"remaining", "reset", "requests", "not_modified", "cost", "warnings", "facts_cached",
"facts_read", "graphql"}}`: the provider calls the run made (a GitHub GraphQL query as method
`GRAPHQL`), and GitHub's core (REST) rate limit as its last answer said (`cost`: the requests that
counted against it, a 304 being free; `warnings`: collections that needed more than was left,
revocations put first), `graphql` the GraphQL budget (`limit`, `remaining`, `reset`, `requests`,
`cost` in points).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from custodian.model import ActionRecord, Cost, Finding, Hold, RunInfo, RunResult, Subject

from .common import (
    TagHold,
    hold_active,
    hold_state,
    iso_utc,
    iso_utc_or_none,
    ordered_counts,
    sorted_actions,
    sorted_findings,
    sorted_holds,
    tag_holds,
    verdict,
)
from .costs import costs_document, money

SCHEMA_VERSION = 1


def subject_document(subject: Subject) -> dict[str, str | None]:
    return {
        "provider": subject.provider,
        "kind": subject.kind,
        "provider_name": subject.provider_name,
        "logical_name": subject.logical_name,
        "version": subject.version,
        "stage": subject.stage,
        "resource_id": subject.resource_id,
        "scope": subject.scope,
    }


def evidence_document(finding: Finding) -> dict[str, str | None]:
    """The evidence mapping with its keys sorted (deterministic output)."""
    return {key: finding.evidence[key] for key in sorted(finding.evidence)}


def finding_document(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "status": finding.status.value,
        "severity": finding.severity.value,
        "subject": subject_document(finding.subject),
        "message": finding.message,
        "evidence": evidence_document(finding),
        "remediation": finding.remediation,
        "cost": cost_document(finding.cost),
    }


def cost_document(cost: Cost | None) -> dict[str, str] | None:
    if cost is None:
        return None
    return {"monthly": money(cost.monthly), "currency": cost.currency, "basis": cost.basis}


def action_document(record: ActionRecord) -> dict[str, Any]:
    action = record.action
    return {
        "kind": action.kind.value,
        "key": action.key,
        "rule": action.rule,
        "reason": action.reason,
        "outcome": record.outcome.value,
        "at": iso_utc(record.at),
        "detail": record.detail,
        "subject": subject_document(action.subject),
    }


def hold_document(hold: Hold, run: RunInfo) -> dict[str, Any]:
    return {
        "id": hold.hold_id,
        "target_type": hold.target_type.value,
        "target": hold.target,
        "reason": hold.reason,
        "placed_by": hold.placed_by,
        "placed_at": iso_utc(hold.placed_at),
        "until": iso_utc(hold.until),
        "released_at": iso_utc_or_none(hold.released_at),
        "released_by": hold.released_by,
        "release_reason": hold.release_reason,
        "active": hold_active(hold, run),
        "state": hold_state(hold, run),
    }


def tag_hold_document(held: TagHold) -> dict[str, Any]:
    return {
        "tag": held.tag,
        "subject": subject_document(held.subject),
        "rules": list(held.rules),
        "cost": cost_document(held.cost),
    }


def run_document(result: RunResult) -> dict[str, Any]:
    run = result.run
    document: dict[str, Any] = {
        "id": run.run_id,
        "started_at": iso_utc(run.started_at),
        "finished_at": iso_utc_or_none(run.finished_at),
        "mode": run.mode.value,
        "applied": run.applied,
        "config_digest": run.config_digest,
        "tool_version": run.tool_version,
        "counts": ordered_counts(result),
        "verdict": verdict(result).value,
        "stages": list(result.stages),
    }
    document["complete"] = not result.incomplete
    document["incomplete"] = list(result.incomplete)
    document["forecast"] = result.forecast
    if run.as_of is not None:
        document["as_of"] = iso_utc(run.as_of)
    if run.trigger is not None:
        document["trigger"] = run.trigger
    if run.version is not None:
        document["version"] = run.version
    return document


def build_document(result: RunResult) -> dict[str, Any]:
    """The canonical report as plain JSON-able data."""
    document = _document(result)
    document["findings"] = list(document["findings"].items)
    document["actions"] = list(document["actions"].items)
    return document


def _document(result: RunResult) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run": run_document(result),
        "findings": Lazy(finding_document(f) for f in sorted_findings(result)),
        "actions": Lazy(action_document(a) for a in sorted_actions(result)),
        "holds": [hold_document(h, result.run) for h in sorted_holds(result)],
        "tag_holds": [tag_hold_document(t) for t in tag_holds(result)],
        "costs": costs_document(result),
    }
    if result.api_usage:
        document["api"] = dict(result.api_usage)
    return document


@dataclass(frozen=True)
class Lazy:
    """A list of a streamed JSON document (`json_chunks`), encoded one item at a time."""

    items: Iterable[Any]


def _at(value: object, level: int) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + "  " * level)


def json_chunks(document: Mapping[str, Any]) -> Iterator[str]:
    """`json.dumps(document, indent=2, ensure_ascii=False) + "\\n"`, the same text a piece at a time.

    A `Lazy` value is encoded item by item as it is iterated (a run's findings are never one string).
    """
    if not document:
        yield "{}\n"
        return
    yield "{"
    for index, (key, value) in enumerate(document.items()):
        yield ("," if index else "") + "\n  " + json.dumps(key, ensure_ascii=False) + ": "
        if not isinstance(value, Lazy):
            yield _at(value, 1)
            continue
        empty = True
        for item in value.items:
            yield ("[" if empty else ",") + "\n    " + _at(item, 2)
            empty = False
        yield "[]" if empty else "\n  ]"
    yield "\n}\n"


def json_list_chunks(items: Iterable[Any]) -> Iterator[str]:
    """`json.dumps(list(items), indent=2, ensure_ascii=False) + "\\n"`, encoded item by item as `items` yields."""
    empty = True
    for item in items:
        yield ("[" if empty else ",") + "\n  " + _at(item, 1)
        empty = False
    yield "[]\n" if empty else "\n]\n"


def iter_json(document: object) -> Iterator[str]:
    """`json.dumps(document, indent=2, ensure_ascii=False) + "\\n"` a piece at a time (the same encoder)."""
    yield from json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(document)
    yield "\n"


def stream_json(result: RunResult) -> Iterator[str]:
    """`findings.json` a piece at a time (findings and actions encoded one by one)."""
    return json_chunks(_document(result))


def render_json(result: RunResult) -> str:
    """`findings.json` as text: UTF-8, two-space indent, trailing newline."""
    return "".join(stream_json(result))
