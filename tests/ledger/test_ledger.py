"""The ledger on SQLite and on a real PostgreSQL: migrations, runs, findings, journal, holds, secrets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from custodian.ledger import (
    REDACTED,
    HoldEventKind,
    Ledger,
    LedgerInputError,
    finding_key,
    redact,
)
from custodian.ledger import schema as t
from custodian.model import (
    Action,
    ActionKind,
    ActionOutcome,
    Finding,
    HoldTarget,
    ResourceKind,
    RunInfo,
    RunMode,
    Scope,
    Severity,
    Status,
    Subject,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MAX_HOLD = timedelta(days=14)
CANARY = "ghp_CANARYc4n4ry5ecret0000000000000000"
TABLES = {
    "runs",
    "tag_sightings",
    "findings",
    "run_findings",
    "action_journal",
    "holds",
    "hold_events",
    "job_runs",
    "leases",
    "webhook_events",
    "notices",
    "github_facts",
    "github_etags",
    "listing_sizes",
    "alembic_version",
}


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.open(ledger_url) as opened:
        yield opened


def run_info(run_id: str, started_at: datetime = T0, *, applied: bool = False) -> RunInfo:
    return RunInfo(
        run_id=run_id,
        started_at=started_at,
        finished_at=None,
        mode=RunMode.ENFORCE if applied else RunMode.AUDIT,
        applied=applied,
        config_digest="sha256:abc",
        tool_version="0.1.0",
    )


def account(name: str = "v0-0-1-uat-acr-sa") -> Subject:
    return Subject(
        provider="azure",
        kind="acr",
        provider_name=name,
        logical_name=name.replace("v0-0-1", "v0.0.1"),
        version="v0.0.1",
        stage="uat",
        scope="/subscriptions/s/registries/uat",
    )


def finding(
    rule: str = "L1", status: Status = Status.FAIL, subject: Subject | None = None, message: str = "still enabled"
) -> Finding:
    return Finding(
        rule=rule,
        status=status,
        severity=Severity.HIGH,
        subject=subject or account(),
        message=message,
        evidence={"prod_started": "2025-03-01T00:00:00Z", "token": None},
        remediation="disable it",
    )


def action(kind: ActionKind = ActionKind.DISABLE, name: str = "v0-0-1-uat-acr-sa") -> Action:
    subject = account(name)
    return Action(
        kind=kind,
        subject=subject,
        rule="L1",
        reason="uat ended when prod started",
        scope=Scope.subscription("s"),
        target_kind=ResourceKind.ACR_TOKEN,
        target=f"{subject.scope}|{name}",
    )


# -- migrations and opening -----------------------------------------------------------------------


def test_open_migrates_an_empty_database_and_reopening_is_idempotent(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as first:
        first.start_run(run_info("r1"))
    with Ledger.open(ledger_url) as second:  # upgrade head again: a no-op that keeps the data
        assert second.get_run("r1") is not None
    engine = create_engine(ledger_url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == TABLES
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["0009"]
    finally:
        engine.dispose()


def test_migrations_produce_exactly_the_schema_module(ledger_url: str) -> None:
    Ledger.open(ledger_url).close()
    engine = create_engine(ledger_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), t.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_concurrent_opens_of_an_empty_database_both_succeed(ledger_url: str) -> None:
    barrier = threading.Barrier(3)

    def open_and_close() -> None:
        barrier.wait()
        Ledger.open(ledger_url).close()

    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(open_and_close) for _ in range(3)]:
            future.result()  # re-raises what the thread raised
    with Ledger.open(ledger_url) as opened:
        assert opened.list_runs() == []


def test_open_creates_the_sqlite_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ledger.sqlite"
    Ledger.open(f"sqlite:///{path}").close()
    assert path.is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [("not a url", "invalid ledger URL"), ("mysql://u:hunter2@db/x", "unsupported ledger URL")],
)
def test_bad_urls_are_input_errors(url: str, message: str) -> None:
    with pytest.raises(LedgerInputError, match=message) as raised:
        Ledger.open(url)
    assert "hunter2" not in str(raised.value)


def test_plain_postgresql_url_means_psycopg(pg_url: str) -> None:
    with Ledger.open(pg_url.replace("postgresql+psycopg://", "postgresql://")) as opened:
        assert opened.backend == "postgresql"
        assert opened.url.startswith("postgresql+psycopg://")


# -- runs ------------------------------------------------------------------------------------------


def test_runs_start_finish_get_and_list(ledger: Ledger) -> None:
    ledger.start_run(run_info("r1", T0))
    ledger.start_run(run_info("r2", T0 + DAY, applied=True))
    assert ledger.get_run("missing") is None
    running = ledger.get_run("r2")
    assert running is not None and not running.finished and running.info.mode is RunMode.ENFORCE

    ledger.finish_run("r2", T0 + DAY + timedelta(minutes=3), {"PASS": 4, "FAIL": 1}, "failing_findings")
    done = ledger.get_run("r2")
    assert done is not None
    assert done.finished and done.outcome == "failing_findings"
    assert done.counts == {"PASS": 4, "FAIL": 1}
    assert done.info.finished_at == T0 + DAY + timedelta(minutes=3)
    assert done.info.applied is True
    assert [run.info.run_id for run in ledger.list_runs(10)] == ["r2", "r1"]
    assert [run.info.run_id for run in ledger.list_runs(1)] == ["r2"]


def test_run_errors_name_the_problem(ledger: Ledger) -> None:
    ledger.start_run(run_info("r1"))
    with pytest.raises(LedgerInputError, match="run 'r1' already exists"):
        ledger.start_run(run_info("r1"))
    with pytest.raises(LedgerInputError, match="no run 'nope'"):
        ledger.finish_run("nope", T0, {}, "ok")
    with pytest.raises(LedgerInputError, match="before it started"):
        ledger.finish_run("r1", T0 - DAY, {}, "ok")
    with pytest.raises(LedgerInputError, match="must be timezone-aware"):
        ledger.finish_run("r1", datetime(2025, 3, 1, 13, 0), {}, "ok")
    ledger.finish_run("r1", T0 + DAY, {}, "ok")
    with pytest.raises(LedgerInputError, match=r"run 'r1' already finished \(ok\)"):
        ledger.finish_run("r1", T0 + DAY, {}, "ok")
    with pytest.raises(LedgerInputError, match="limit must be >= 1"):
        ledger.list_runs(0)


def test_times_come_back_as_utc(ledger: Ledger) -> None:
    tokyo = timezone(timedelta(hours=9))
    ledger.start_run(run_info("r1", datetime(2025, 3, 1, 21, 0, tzinfo=tokyo)))
    stored = ledger.get_run("r1")
    assert stored is not None
    assert stored.info.started_at == T0
    assert stored.info.started_at.tzinfo is UTC


# -- findings --------------------------------------------------------------------------------------


def test_findings_first_and_last_seen_across_two_runs(ledger: Ledger) -> None:
    old, new = finding(), finding(subject=account("v0-0-1-qa-acr-sa"))
    ledger.start_run(run_info("r1", T0))
    ledger.record_findings("r1", [old], T0)
    ledger.start_run(run_info("r2", T0 + DAY))
    ledger.record_findings("r2", [finding(status=Status.PASS, message="disabled now"), new], T0 + DAY)

    assert ledger.first_seen(old) == T0  # kept, although its status changed
    assert ledger.first_seen(new) == T0 + DAY
    assert ledger.first_seen(finding(rule="L3")) is None
    row = _row(ledger, t.findings, t.findings.c.finding_key == finding_key(old))
    assert row["last_seen_at"] == T0 + DAY and row["last_run_id"] == "r2" and row["status"] == "PASS"

    # each run's findings are rebuilt as they were then
    assert ledger.findings_for_run("r1") == [old]
    assert ledger.findings_for_run("r2") == [finding(status=Status.PASS, message="disabled now"), new]


def test_recording_an_older_sighting_keeps_the_latest_state(ledger: Ledger) -> None:
    ledger.start_run(run_info("late", T0 + DAY))
    ledger.record_findings("late", [finding(message="latest")], T0 + DAY)
    ledger.start_run(run_info("backfill", T0))
    ledger.record_findings("backfill", [finding(message="older")], T0)
    assert ledger.first_seen(finding()) == T0
    row = _row(ledger, t.findings, t.findings.c.finding_key == finding_key(finding()))
    assert row["message"] == "latest" and row["last_run_id"] == "late"


def test_findings_of_one_run_recorded_in_batches_and_with_duplicates(ledger: Ledger) -> None:
    ledger.start_run(run_info("r1"))
    first = [finding(), finding(message="same rule and subject, said twice")]
    keys = ledger.record_findings("r1", first, T0)
    assert keys[0] == keys[1] == finding_key(finding())
    ledger.record_findings("r1", [finding(rule="L4")], T0)
    ledger.record_findings("r1", [], T0)
    assert ledger.findings_for_run("r1") == [*first, finding(rule="L4")]


def test_finding_key_is_rule_and_subject_not_status(ledger: Ledger) -> None:
    assert finding_key(finding()) == finding_key(finding(status=Status.PASS, message="other"))
    assert finding_key(finding()) != finding_key(finding(rule="L2"))
    assert finding_key(finding()) != finding_key(finding(subject=account("v0-0-1-qa-acr-sa")))
    assert finding_key(finding()).startswith("L1:")


def test_findings_need_a_known_run(ledger: Ledger) -> None:
    with pytest.raises(LedgerInputError, match="no run 'ghost'"):
        ledger.record_findings("ghost", [finding()], T0)
    with pytest.raises(LedgerInputError, match="no run 'ghost'"):
        ledger.findings_for_run("ghost")


def test_concurrent_upserts_from_two_ledgers_keep_one_row(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as setup:
        for index in range(2):
            setup.start_run(run_info(f"r{index}", T0 + index * DAY))
    barrier = threading.Barrier(2)

    def record(index: int) -> None:
        with Ledger.open(ledger_url) as mine:
            barrier.wait()
            for _ in range(10):
                mine.record_findings(f"r{index}", [finding(), finding(rule="L4")], T0 + index * DAY)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(record, index) for index in range(2)]:
            future.result()  # re-raises what the thread raised
    with Ledger.open(ledger_url) as check:
        assert check.first_seen(finding()) == T0
        assert len(check.findings_for_run("r0")) == len(check.findings_for_run("r1")) == 20
        assert _count(check, t.findings) == 2


# -- the action journal ----------------------------------------------------------------------------


def test_intent_then_outcome_and_completed_keys(ledger: Ledger) -> None:
    ledger.start_run(run_info("r1", applied=True))
    disable, remove = action(), action(ActionKind.REMOVE_CREDENTIALS)
    first = ledger.journal_intent("r1", disable, T0, {"status": "enabled"})
    second = ledger.journal_outcome("r1", disable, ActionOutcome.DONE, T0 + timedelta(seconds=5), "re-read: disabled")
    assert second > first
    ledger.journal_intent("r1", remove, T0 + timedelta(seconds=6), {"passwords": 2})
    ledger.journal_outcome("r1", remove, ActionOutcome.FAILED, T0 + timedelta(seconds=7), "HTTP 500")

    assert ledger.completed_action_keys() == {disable.key}
    assert ledger.completed_action_keys(since=T0 + timedelta(seconds=5)) == {disable.key}
    assert ledger.completed_action_keys(since=T0 + timedelta(seconds=6)) == set()
    assert ledger.pending_intents() == []

    summary = ledger.actions_for_run("r1")
    assert [(r.action, r.outcome) for r in summary] == [(disable, ActionOutcome.DONE), (remove, ActionOutcome.FAILED)]
    assert summary[0].detail == "re-read: disabled" and summary[0].at == T0 + timedelta(seconds=5)
    journal = ledger.actions_for_run("r1", journal=True)
    assert [r.outcome for r in journal] == [
        ActionOutcome.INTENT,
        ActionOutcome.DONE,
        ActionOutcome.INTENT,
        ActionOutcome.FAILED,
    ]
    assert journal[0].snapshot == {"status": "enabled"}


def test_a_later_dry_run_does_not_undo_completion_but_a_later_failure_does(ledger: Ledger) -> None:
    ledger.start_run(run_info("apply", applied=True))
    ledger.journal_intent("apply", action(), T0, {})
    ledger.journal_outcome("apply", action(), ActionOutcome.DONE, T0, "")
    ledger.start_run(run_info("dry", T0 + DAY))
    ledger.journal_outcome("dry", action(), ActionOutcome.PLANNED, T0 + DAY, "would disable")
    assert ledger.completed_action_keys() == {action().key}
    ledger.start_run(run_info("again", T0 + 2 * DAY, applied=True))
    ledger.journal_intent("again", action(), T0 + 2 * DAY, {})
    ledger.journal_outcome("again", action(), ActionOutcome.UNCONFIRMED, T0 + 2 * DAY, "re-read still enabled")
    assert ledger.completed_action_keys() == set()


def test_crashed_run_leaves_pending_intents_and_resume_acts_once(ledger: Ledger) -> None:
    done, crashed, untouched = action(name="a-sa"), action(name="b-sa"), action(name="c-sa")
    ledger.start_run(run_info("crashed", applied=True))
    ledger.journal_intent("crashed", done, T0, {"status": "enabled"})
    ledger.journal_outcome("crashed", done, ActionOutcome.DONE, T0 + timedelta(seconds=1), "confirmed")
    ledger.journal_intent("crashed", crashed, T0 + timedelta(seconds=2), {"status": "enabled"})
    # ... the process dies here: no outcome for `crashed`, no finish_run

    pending = ledger.pending_intents()
    assert [(p.run_id, p.record.action, p.record.outcome) for p in pending] == [
        ("crashed", crashed, ActionOutcome.INTENT)
    ]
    assert pending[0].record.snapshot == {"status": "enabled"}
    stored = ledger.get_run("crashed")
    assert stored is not None and not stored.finished

    # the resumed run skips what is done, settles the pending intent after a re-read, does the rest
    ledger.start_run(run_info("resume", T0 + timedelta(hours=1), applied=True))
    completed = ledger.completed_action_keys()
    todo = [a for a in (done, crashed, untouched) if a.key not in completed]
    assert todo == [crashed, untouched]
    at = T0 + timedelta(hours=1)
    ledger.journal_outcome("resume", crashed, ActionOutcome.DONE, at, "re-read: already disabled")
    ledger.journal_intent("resume", untouched, at, {})
    ledger.journal_outcome("resume", untouched, ActionOutcome.DONE, at, "confirmed")
    assert ledger.pending_intents() == []
    assert ledger.completed_action_keys() == {done.key, crashed.key, untouched.key}
    assert [r.outcome for r in ledger.actions_for_run("crashed")] == [ActionOutcome.DONE, ActionOutcome.INTENT]


def test_journal_errors_name_the_problem(ledger: Ledger) -> None:
    with pytest.raises(LedgerInputError, match="no run 'ghost'"):
        ledger.journal_intent("ghost", action(), T0, {})
    with pytest.raises(LedgerInputError, match="no run 'ghost'"):
        ledger.actions_for_run("ghost")
    ledger.start_run(run_info("r1"))
    with pytest.raises(LedgerInputError, match="with journal_intent"):
        ledger.journal_outcome("r1", action(), ActionOutcome.INTENT, T0, "")
    with pytest.raises(LedgerInputError, match=r"snapshot\.when is not JSON-able: object"):
        ledger.journal_intent("r1", action(), T0, {"when": object()})
    assert ledger.actions_for_run("r1") == []


def test_snapshots_store_plain_json(ledger: Ledger) -> None:
    ledger.start_run(run_info("r1"))
    ledger.journal_intent("r1", action(), T0, {"created": T0, "kind": ActionKind.DISABLE, "scopes": ("a", "b")})
    (record,) = ledger.actions_for_run("r1")
    assert record.snapshot == {"created": T0.isoformat(), "kind": "disable", "scopes": ["a", "b"]}


# -- holds -----------------------------------------------------------------------------------------


def test_holds_place_list_release_and_events(ledger: Ledger) -> None:
    hold = ledger.place_hold(
        HoldTarget.VERSION, "v0.0.1", "CAB-42 rollback window", "alice", T0, T0 + 3 * DAY, MAX_HOLD
    )
    other = ledger.place_hold("account", "v0-0-2-qa-gh-sa", "forensics", "bob", T0, T0 + DAY, MAX_HOLD)
    assert hold.hold_id.startswith("H-") and len(hold.hold_id) == 10
    assert hold.target_type is HoldTarget.VERSION and other.target_type is HoldTarget.ACCOUNT
    assert ledger.get_hold(hold.hold_id) == hold
    assert {h.hold_id for h in ledger.holds_active_at(T0 + timedelta(hours=1))} == {hold.hold_id, other.hold_id}

    released = ledger.release_hold(hold.hold_id, "carol", "approved by CAB", T0 + DAY)
    assert released.released_at == T0 + DAY and released.released_by == "carol"
    assert released.release_reason == "approved by CAB"
    assert ledger.get_hold(hold.hold_id) == released
    assert ledger.holds_active_at(T0 + timedelta(hours=2)) == [other]
    assert ledger.list_holds(False, T0 + timedelta(hours=2)) == [other]
    assert {h.hold_id for h in ledger.list_holds(True, T0)} == {hold.hold_id, other.hold_id}

    events = ledger.hold_events(hold.hold_id)
    assert [(e.event, e.by, e.reason, e.at) for e in events] == [
        (HoldEventKind.PLACED, "alice", "CAB-42 rollback window", T0),
        (HoldEventKind.RELEASED, "carol", "approved by CAB", T0 + DAY),
    ]
    assert [e.event for e in ledger.hold_events(other.hold_id)] == [HoldEventKind.PLACED]


def test_expired_hold_is_not_active(ledger: Ledger) -> None:
    hold = ledger.place_hold(HoldTarget.VERSION, "v0.0.1", "wait", "alice", T0, T0 + DAY, MAX_HOLD)
    assert ledger.holds_active_at(T0) == [hold]
    assert ledger.holds_active_at(T0 + DAY - timedelta(seconds=1)) == [hold]
    assert ledger.holds_active_at(T0 + DAY) == []  # `until` is exclusive, as in Hold.active_at
    assert ledger.holds_active_at(T0 - timedelta(seconds=1)) == []  # not placed yet
    assert ledger.list_holds(True, T0 + 2 * DAY) == [hold]


def test_hold_may_last_exactly_the_maximum(ledger: Ledger) -> None:
    hold = ledger.place_hold(HoldTarget.VERSION, "v0.0.1", "wait", "alice", T0, T0 + MAX_HOLD, MAX_HOLD)
    assert hold.until - hold.placed_at == MAX_HOLD


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reason": "  "}, "hold reason must not be empty"),
        ({"by": ""}, r"hold placed_by \(by\) must not be empty"),
        ({"target": ""}, "hold target must not be empty"),
        ({"target_type": "repo"}, "hold target type 'repo' is not one of: version, account"),
        ({"until": T0}, r"hold until 2025-03-01T12:00:00\+00:00 must be after its start 2025-03-01T12:00:00\+00:00"),
        ({"until": T0 - DAY}, "must be after its start"),
        ({"until": T0 + MAX_HOLD + timedelta(seconds=1)}, "hold of 14d 1s exceeds the maximum hold duration of 14d"),
        ({"max_duration": timedelta(0)}, "max_duration must be positive, got 0s"),
        ({"at": datetime(2025, 3, 1, 12, 0)}, "at must be timezone-aware"),
    ],
)
def test_hold_validation_errors(ledger: Ledger, changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "target_type": HoldTarget.VERSION,
        "target": "v0.0.1",
        "reason": "CAB-42",
        "by": "alice",
        "at": T0,
        "until": T0 + DAY,
        "max_duration": MAX_HOLD,
    }
    with pytest.raises(LedgerInputError, match=message):
        ledger.place_hold(**{**arguments, **changes})
    assert ledger.list_holds(True, T0) == []
    assert _count(ledger, t.hold_events) == 0


def test_release_errors_name_the_problem(ledger: Ledger) -> None:
    with pytest.raises(LedgerInputError, match="no hold 'H-00000000'"):
        ledger.release_hold("H-00000000", "carol", "done", T0)
    with pytest.raises(LedgerInputError, match="no hold 'H-00000000'"):
        ledger.hold_events("H-00000000")
    hold = ledger.place_hold(HoldTarget.VERSION, "v0.0.1", "wait", "alice", T0, T0 + DAY, MAX_HOLD)
    with pytest.raises(LedgerInputError, match="release reason must not be empty"):
        ledger.release_hold(hold.hold_id, "carol", "", T0)
    with pytest.raises(LedgerInputError, match="release by must not be empty"):
        ledger.release_hold(hold.hold_id, " ", "done", T0)
    with pytest.raises(LedgerInputError, match="before it was placed"):
        ledger.release_hold(hold.hold_id, "carol", "done", T0 - DAY)
    ledger.release_hold(hold.hold_id, "carol", "done", T0 + timedelta(hours=1))
    with pytest.raises(LedgerInputError, match=f"hold {hold.hold_id} was already released at .* by carol"):
        ledger.release_hold(hold.hold_id, "dave", "again", T0 + timedelta(hours=2))
    assert len(ledger.hold_events(hold.hold_id)) == 2


# -- secrets ---------------------------------------------------------------------------------------


def test_redact_replaces_secret_named_values() -> None:
    snapshot = {
        "name": "v0-0-1-uat-acr-sa",
        "status": "enabled",
        "token": CANARY,
        "accessToken": CANARY,
        "credentials": {"passwords": [{"name": "password1", "value": CANARY}]},
        "ssh_keys": [{"id": 7, "key": CANARY}],
        "items": [{"client_secret": CANARY, "title": "deploy"}],
    }
    assert redact(snapshot) == {
        "name": "v0-0-1-uat-acr-sa",
        "status": "enabled",
        "token": REDACTED,
        "accessToken": REDACTED,
        "credentials": REDACTED,
        "ssh_keys": REDACTED,
        "items": [{"client_secret": REDACTED, "title": "deploy"}],
    }
    assert redact({"password1": CANARY, "PASSWORD": CANARY, "keyId": 3}) == {
        "password1": REDACTED,
        "PASSWORD": REDACTED,
        "keyId": REDACTED,
    }
    assert redact(["a", ("b", {"secret": CANARY})]) == ["a", ["b", {"secret": REDACTED}]]


def test_canary_secret_in_a_snapshot_never_reaches_the_ledger(ledger: Ledger) -> None:
    ledger.start_run(run_info("r1", applied=True))
    snapshot = {
        "name": "v0-0-1-uat-acr-sa",
        "passwords": [{"name": "password1", "value": CANARY}],
        "properties": {"status": "enabled", "credentials": {"token": CANARY}},
        "apiKey": CANARY,
    }
    ledger.journal_intent("r1", action(), T0, snapshot)
    ledger.journal_outcome("r1", action(), ActionOutcome.DONE, T0, "confirmed", snapshot={"password": CANARY})
    intent, outcome = ledger.actions_for_run("r1", journal=True)
    assert intent.snapshot == {
        "name": "v0-0-1-uat-acr-sa",
        "passwords": REDACTED,
        "properties": {"status": "enabled", "credentials": REDACTED},
        "apiKey": REDACTED,
    }
    assert outcome.snapshot == {"password": REDACTED}
    for table in t.metadata.sorted_tables:
        for row in _rows(ledger, table):
            assert CANARY not in repr(row), f"canary secret stored in {table.name}"


# -- helpers ---------------------------------------------------------------------------------------


def _rows(ledger: Ledger, table: Any, *where: Any) -> list[dict[str, Any]]:
    """Raw rows of a ledger table, read through the ledger's own engine."""
    with ledger._engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(table).where(*where))]


def _row(ledger: Ledger, table: Any, *where: Any) -> dict[str, Any]:
    (row,) = _rows(ledger, table, *where)
    return row


def _count(ledger: Ledger, table: Any) -> int:
    return len(_rows(ledger, table))
