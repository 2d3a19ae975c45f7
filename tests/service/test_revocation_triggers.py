"""Which revocations came from events and which from the schedule: the digest splits the revocation
steps journaled done by the trigger of their run (event, schedule, manual), and the metrics count
them under `trigger="event|schedule|manual"`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custodian.ledger.store import Ledger
from custodian.model import (
    Action,
    ActionKind,
    ActionOutcome,
    ResourceKind,
    RunInfo,
    RunMode,
    Scope,
    Subject,
)
from custodian.model.run import trigger_kind
from custodian.service.digest import build_digest, render_markdown
from custodian.service.metrics import ServiceMetrics

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as opened:
        yield opened


def run(ledger: Ledger, run_id: str, at: datetime, trigger: str | None, *, applied: bool = True) -> str:
    mode = RunMode.ENFORCE if applied else RunMode.AUDIT
    ledger.start_run(RunInfo(run_id, at, None, mode, applied, "sha256:abc", "0.1.0", trigger=trigger))
    return run_id


def act(
    ledger: Ledger, run_id: str, name: str, rule: str, kind: ActionKind, outcome: ActionOutcome, at: datetime
) -> None:
    subject = Subject("azure", "acr", name, logical_name=name.replace("-", ".", 2), version="v0.0.1", stage="qa")
    action = Action(
        kind, subject, rule, f"{rule} FAIL", Scope.subscription("s"), ResourceKind.ACR_TOKEN, f"registry|{name}"
    )
    if outcome is not ActionOutcome.PLANNED:
        ledger.journal_intent(run_id, action, at, {"name": name})
    ledger.journal_outcome(run_id, action, outcome, at + timedelta(seconds=1))


def test_the_digest_splits_revocations_by_the_trigger_of_their_run(ledger: Ledger) -> None:
    done, failed = ActionOutcome.DONE, ActionOutcome.FAILED
    scheduled = run(ledger, "r-sched", T0, "schedule:accounts")
    act(ledger, scheduled, "v0-0-1-qa-acr-sa", "L1", ActionKind.DISABLE, done, T0)
    act(ledger, scheduled, "v0-0-1-qa-acr-sa", "L1", ActionKind.REMOVE_CREDENTIALS, done, T0)
    act(ledger, scheduled, "v0-0-0-qa-acr-sa", "L3", ActionKind.DELETE_ACCOUNT, done, T0)  # a deletion: not counted
    event = run(ledger, "r-event", T0 + timedelta(hours=1), "event:72d3162e-cc78-11e3-81ab-4c9367dc0958")
    act(ledger, event, "v0-0-2-qa-acr-sa", "L1", ActionKind.DISABLE, done, T0 + timedelta(hours=1))
    act(ledger, event, "v0-0-2-uat-acr-sa", "L1", ActionKind.DISABLE, failed, T0 + timedelta(hours=1))  # not done
    manual = run(ledger, "r-cli", T0 + timedelta(hours=2), None)
    act(ledger, manual, "v0-0-1-prod-acr-sa", "L2", ActionKind.DISABLE, done, T0 + timedelta(hours=2))
    dry = run(ledger, "r-dry", T0 + timedelta(hours=3), "schedule:accounts", applied=False)
    act(ledger, dry, "v0-0-3-qa-acr-sa", "L1", ActionKind.DISABLE, ActionOutcome.PLANNED, T0 + timedelta(hours=3))
    late = run(ledger, "r-late", T0 + timedelta(days=2), "event:later")  # outside the window
    act(ledger, late, "v0-0-4-qa-acr-sa", "L1", ActionKind.DISABLE, done, T0 + timedelta(days=2))

    doc = build_digest(ledger, T0, T0 + timedelta(days=1), T0 + timedelta(days=1))
    revocations = doc["revocations"]
    assert revocations["by_trigger"] == {
        "event": {"runs": 1, "accounts": 1, "actions": 1},
        "schedule": {"runs": 1, "accounts": 1, "actions": 2},
        "manual": {"runs": 1, "accounts": 1, "actions": 1},
    }
    assert [(a["account"], a["trigger"], a["run_id"]) for a in revocations["accounts"]] == [
        ("v0.0.1-qa-acr-sa", "schedule", "r-sched"),
        ("v0.0.2-qa-acr-sa", "event", "r-event"),
        ("v0.0.1-prod-acr-sa", "manual", "r-cli"),
    ]
    assert {r["run_id"]: r["trigger"] for r in doc["runs"]}["r-cli"] == "manual"
    markdown = render_markdown(doc)
    assert "## Revocations" in markdown
    assert "after a GitHub event: 1 (1 run(s)); by the schedule: 1 (1 run(s)); by hand (CLI): 1 (1 run(s))" in markdown
    assert "| v0.0.2-qa-acr-sa | L1 | event:72d3162e-cc78-11e3-81ab-4c9367dc0958 | r-event |" in markdown


def test_trigger_kinds() -> None:
    assert [trigger_kind(t) for t in ("event:abc", "schedule:accounts", None, "cli", "eventful")] == [
        "event",
        "schedule",
        "manual",
        "manual",
        "manual",
    ]
    info = RunInfo("r", T0, None, RunMode.AUDIT, False, "d", "v")
    assert info.trigger_kind == "manual" and replace(info, trigger="event:x").trigger_kind == "event"


def test_the_revocation_counter_is_labelled_by_trigger() -> None:
    metrics = ServiceMetrics(replica="r1", version="0.1.0", ledger_backend="sqlite")
    text = metrics.render().decode()
    for kind in ("event", "schedule", "manual"):  # present from the start, at 0
        assert f'release_custodian_revocations_total{{trigger="{kind}"}} 0.0' in text
    metrics.revoked("event:72d3162e", 3)
    metrics.revoked("schedule:accounts", 2)
    metrics.revoked(None, 1)
    metrics.revoked("event:other", 0)
    text = metrics.render().decode()
    assert 'release_custodian_revocations_total{trigger="event"} 3.0' in text
    assert 'release_custodian_revocations_total{trigger="schedule"} 2.0' in text
    assert 'release_custodian_revocations_total{trigger="manual"} 1.0' in text
