"""The digest: a periodic summary report of the ledger's recent runs (the `digest` job).

Covers `[slot - window, slot)`: every scheduled slot by job and outcome (catch-ups, missed slots,
skipped overlaps and failures listed), every run in the window (ad-hoc ones too) with its finding
counts and trigger, the actions and API calls of the scheduled runs, and the revocations (L1/L2
steps journaled done) split by what triggered their run: a GitHub event (`event:<delivery>`), the
schedule (`schedule:<job>`) or a person (`manual`), with the accounts each revoked. Written
atomically as Markdown and JSON to `reports/digests/<YYYY-MM-DD>/digest-<job>-<slot>.{md,json}`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from custodian.ledger.scheduling import JobRun, JobStatus
from custodian.ledger.store import Ledger, RunRecord
from custodian.model import ActionOutcome, ActionRecord
from custodian.model.run import TRIGGER_KINDS
from custodian.rules.registry import Purpose, rule

_LISTED = (JobStatus.FAILED, JobStatus.INCOMPLETE, JobStatus.FENCED, JobStatus.INTERRUPTED, JobStatus.ABANDONED)


@dataclass(frozen=True)
class Digest:
    since: datetime
    until: datetime
    runs: int
    slots: int
    markdown: Path
    json: Path
    document: dict[str, Any]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_digest(ledger: Ledger, since: datetime, until: datetime, generated_at: datetime) -> dict[str, Any]:
    """The digest document for `[since, until)`."""
    slots = ledger.list_job_runs(since=since, until=until)
    runs = [r for r in ledger.list_runs(limit=10_000) if since <= r.info.started_at < until]
    jobs: dict[str, dict[str, Any]] = {}
    by_job: dict[str, list[JobRun]] = defaultdict(list)
    for slot in slots:
        by_job[slot.job_id].append(slot)
    actions: Counter[str] = Counter()
    api_calls: Counter[str] = Counter()
    for job_id, rows in sorted(by_job.items()):
        statuses = Counter(row.status.value for row in rows)
        successes = [row for row in rows if row.status is JobStatus.SUCCEEDED]
        jobs[job_id] = {
            "kind": rows[-1].kind,
            "slots": len(rows),
            "by_status": dict(sorted(statuses.items())),
            "catch_ups": [{"slot": _iso(row.slot), "status": row.status.value} for row in rows if row.catch_up],
            "missed": [_iso(row.slot) for row in rows if row.status is JobStatus.MISSED],
            "skipped_overlaps": [_iso(row.slot) for row in rows if row.status is JobStatus.SKIPPED],
            "problems": [
                {"slot": _iso(row.slot), "status": row.status.value, "detail": row.detail}
                for row in rows
                if row.status in _LISTED
            ][-20:],
            "last_success": _iso(successes[-1].finished_at) if successes else None,
        }
        for row in rows:
            actions.update({str(k): int(v) for k, v in dict(row.summary.get("actions") or {}).items()})
            for provider, methods in dict(row.summary.get("api_calls") or {}).items():
                api_calls[str(provider)] += sum(int(v) for v in dict(methods).values())
    return {
        "kind": "release-custodian digest",
        "since": _iso(since),
        "until": _iso(until),
        "generated_at": _iso(generated_at),
        "jobs": jobs,
        "runs": [_run(r) for r in sorted(runs, key=lambda r: r.info.started_at)],
        "findings_by_status": _finding_totals(runs),
        "actions": dict(sorted(actions.items())),
        "api_calls": dict(sorted(api_calls.items())),
        "revocations": revocations_by_trigger(ledger, runs),
    }


_LISTED_REVOCATIONS = 50


def revokes(record: ActionRecord) -> bool:
    """A revocation step journaled done: an action of a revoking rule (L1, L2) that ended DONE."""
    if record.outcome is not ActionOutcome.DONE:
        return False
    try:
        return rule(record.action.rule).purpose is Purpose.REVOKE
    except KeyError:  # a rule no longer registered (an old journal): not counted
        return False


def revocations_by_trigger(ledger: Ledger, runs: list[RunRecord]) -> dict[str, Any]:
    """Per trigger kind (event, schedule, manual): the applied runs that revoked something, the
    accounts they revoked and the steps done; and the accounts revoked, newest last (the last 50)."""
    by_trigger = {kind: {"runs": 0, "accounts": 0, "actions": 0} for kind in TRIGGER_KINDS}
    listed: list[dict[str, Any]] = []
    for record in sorted(runs, key=lambda r: r.info.started_at):
        if not record.info.applied:
            continue
        done = [r for r in ledger.actions_for_run(record.info.run_id) if revokes(r)]
        if not done:
            continue
        first: dict[str, ActionRecord] = {}
        for action in done:
            first.setdefault(action.action.target, action)
        totals = by_trigger[record.info.trigger_kind]
        totals["runs"] += 1
        totals["accounts"] += len(first)
        totals["actions"] += len(done)
        listed += [
            {
                "account": r.action.subject.logical_name or r.action.subject.provider_name,
                "rule": r.action.rule,
                "trigger": record.info.trigger_kind,
                "run_trigger": record.info.trigger,
                "run_id": record.info.run_id,
                "at": _iso(r.at),
            }
            for r in first.values()
        ]
    return {"by_trigger": by_trigger, "accounts": listed[-_LISTED_REVOCATIONS:]}


def _run(record: RunRecord) -> dict[str, Any]:
    info = record.info
    return {
        "run_id": info.run_id,
        "mode": info.mode.value + (" --apply" if info.applied else ""),
        "started_at": _iso(info.started_at),
        "outcome": record.outcome or "unfinished",
        "counts": dict(record.counts),
        "trigger": info.trigger or "manual",
    }


def _finding_totals(runs: list[RunRecord]) -> dict[str, int]:
    """Findings of the latest finished run of each mode, by status (a current picture, not a sum)."""
    latest: dict[str, RunRecord] = {}
    for record in sorted(runs, key=lambda r: r.info.started_at):
        if record.finished:
            latest[record.info.mode.value] = record
    totals: Counter[str] = Counter()
    for record in latest.values():
        totals.update(record.counts)
    return dict(sorted(totals.items()))


def render_markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# release-custodian digest",
        "",
        f"From {doc['since']} to {doc['until']} (generated {doc['generated_at']}).",
        "",
        "## Scheduled jobs",
        "",
        "| job | slots | outcomes | catch-ups | missed | skipped (overlap) | last success |",
        "|---|---|---|---|---|---|---|",
    ]
    for job_id, job in doc["jobs"].items():
        outcomes = ", ".join(f"{k} {v}" for k, v in job["by_status"].items())
        lines.append(
            f"| {job_id} | {job['slots']} | {outcomes} | {len(job['catch_ups'])} | {len(job['missed'])} "
            f"| {len(job['skipped_overlaps'])} | {job['last_success'] or 'never'} |"
        )
    if not doc["jobs"]:
        lines.append("| (no scheduled slot in this window) | | | | | | |")
    catch_ups = [(job_id, c) for job_id, job in doc["jobs"].items() for c in job["catch_ups"]]
    if catch_ups:
        lines += ["", "Catch-up runs (once each, after downtime):", ""]
        lines += [f"- {job_id} slot {c['slot']}: {c['status']}" for job_id, c in catch_ups]
    problems = [(job_id, p) for job_id, job in doc["jobs"].items() for p in job["problems"]]
    if problems:
        lines += ["", "## Problems", ""]
        lines += [f"- {job_id} {p['slot']} **{p['status']}**: {p['detail']}" for job_id, p in problems]
    lines += ["", "## Runs", "", f"{len(doc['runs'])} run(s) in the window."]
    if doc["findings_by_status"]:
        lines.append(
            "Latest findings by status: " + ", ".join(f"{k} {v}" for k, v in doc["findings_by_status"].items()) + "."
        )
    if doc["actions"]:
        lines += ["", "Actions of scheduled runs: " + ", ".join(f"{k} {v}" for k, v in doc["actions"].items()) + "."]
    if doc["api_calls"]:
        lines += ["", "API calls: " + ", ".join(f"{k} {v}" for k, v in doc["api_calls"].items()) + "."]
    lines += _revocation_lines(doc["revocations"])
    return "\n".join(lines) + "\n"


def _revocation_lines(revocations: dict[str, Any]) -> list[str]:
    totals = revocations["by_trigger"]
    said = {"event": "after a GitHub event", "schedule": "by the schedule", "manual": "by hand (CLI)"}
    lines = ["", "## Revocations", ""]
    lines.append(
        "Accounts revoked "
        + "; ".join(f"{said[k]}: {totals[k]['accounts']} ({totals[k]['runs']} run(s))" for k in TRIGGER_KINDS)
        + "."
    )
    if revocations["accounts"]:
        lines += ["", "| account | rule | trigger | run | at |", "|---|---|---|---|---|"]
        lines += [
            f"| {a['account']} | {a['rule']} | {a['run_trigger'] or 'manual'} | {a['run_id']} | {a['at']} |"
            for a in revocations["accounts"][-20:]
        ]
    return lines


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_digest(
    ledger: Ledger, reports_dir: Path, job_id: str, slot: datetime, window: timedelta, now: datetime
) -> Digest:
    since = slot - window
    doc = build_digest(ledger, since, slot, now)
    directory = reports_dir / "digests" / f"{slot:%Y-%m-%d}"
    stem = f"digest-{job_id}-{slot:%Y%m%dT%H%M%SZ}"
    markdown, document = directory / f"{stem}.md", directory / f"{stem}.json"
    _atomic_write(markdown, render_markdown(doc))
    _atomic_write(document, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    slots = sum(job["slots"] for job in doc["jobs"].values())
    return Digest(since, slot, len(doc["runs"]), slots, markdown, document, doc)
