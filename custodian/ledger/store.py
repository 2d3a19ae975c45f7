"""The ledger: runs, findings, the action journal, holds (and job runs, leases), in SQLite or PostgreSQL.

`Ledger.open(url)` connects (creating a SQLite file's directory) and upgrades the schema with the
Alembic migrations shipped in this package; every method is one transaction. Times are passed in
(timezone-aware; stored and returned as UTC): the ledger never reads the clock. Secrets are never
stored: journal snapshots go through `redact` first, and nothing else here takes secrets.

Concurrency: several processes may share one PostgreSQL ledger (row locks, `ON CONFLICT` upserts,
an advisory lock around migrations); on SQLite, write transactions take the database write lock up
front (`BEGIN IMMEDIATE`, with a busy timeout), so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum, StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, case, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Row, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.pool import StaticPool

from custodian.ledger import schema as t
from custodian.ledger.locks import ApplyLock
from custodian.ledger.redact import redact_mapping
from custodian.ledger.scheduling import SchedulingLedger
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

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK: Final = 0x5C0DE_1ED6E  # pg_advisory_xact_lock key held while upgrading
_WRITE: Final = "custodian_ledger_write"  # execution option: this transaction writes
_SQLITE_BUSY_TIMEOUT_S: Final = 30.0
_HOLD_ID_ATTEMPTS: Final = 16


class LedgerInputError(ValueError):
    """A ledger call was given invalid input (the message names the problem); nothing was changed."""


class HoldEventKind(StrEnum):
    PLACED = "placed"
    RELEASED = "released"


@dataclass(frozen=True)
class RunRecord:
    """A run as the ledger holds it: its header, and once finished its outcome and counts."""

    info: RunInfo
    outcome: str | None  # None while running, or forever if the run crashed
    counts: Mapping[str, int] = field(default_factory=dict)

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


def finding_key(finding: Finding) -> str:
    """The stable identity of a finding across runs: its rule and its subject (not its status).

    Subject fields that are None are left out, so adding an optional field to `Subject` keeps keys.
    """
    identity = {name: value for name, value in dataclasses.asdict(finding.subject).items() if value is not None}
    canonical = json.dumps([finding.rule, identity], sort_keys=True, separators=(",", ":"))
    return f"{finding.rule}:{hashlib.sha256(canonical.encode()).hexdigest()[:24]}"


class Ledger(SchedulingLedger):
    """The ledger of one database; open with `Ledger.open(url)`, close with `close()` (or `with`).

    The run ledger of scheduled jobs and the leader lease are in `SchedulingLedger`.
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose schema is already at head; use `Ledger.open` instead."""
        self._engine = engine
        self._apply_local = threading.Lock()

    def apply_lock(self, run_id: str) -> ApplyLock:
        """The lock an applied run holds for its whole length (`acquire` raises `LockHeldError` naming the holder)."""
        return ApplyLock(
            self._engine, self._engine.url.render_as_string(hide_password=False), run_id, self._apply_local
        )

    # -- the release timeline's evidence ------------------------------------------------------------

    def record_tag_sightings(self, repo: str, tags: Sequence[str], at: datetime) -> dict[str, datetime]:
        """Record `at` as the first sighting of each tag not seen before; return every tag's first sighting."""
        at = _aware("at", at)
        with self._write() as conn:
            rows = conn.execute(select(t.tag_sightings).where(t.tag_sightings.c.repo == repo)).all()
            known = {row.tag: row.first_seen_at for row in rows}
            new = [{"repo": repo, "tag": tag, "first_seen_at": at} for tag in dict.fromkeys(tags) if tag not in known]
            if new:
                conn.execute(t.tag_sightings.insert(), new)
        return {**known, **{row["tag"]: at for row in new}}

    # -- lifecycle ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> Ledger:
        """Connect to `url` (`sqlite:///path`, `postgresql+psycopg://...`) and upgrade the schema.

        A SQLite file's directory is created; `postgresql://` means the psycopg (3) driver.
        """
        engine = _create_engine(url)
        try:
            _upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        """Release every pooled connection; the ledger must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._engine.dialect.name

    # -- runs --------------------------------------------------------------------------------------

    def start_run(self, info: RunInfo) -> None:
        """Record that a run started; its id must be new."""
        run_id = _text("run_id", info.run_id, 64)
        row = {
            "id": run_id,
            "started_at": _aware("started_at", info.started_at),
            "finished_at": _aware_or_none("finished_at", info.finished_at),
            "mode": RunMode(info.mode).value,
            "applied": bool(info.applied),
            "config_digest": _text("config_digest", info.config_digest, 128, allow_empty=True),
            "tool_version": _text("tool_version", info.tool_version, 64),
            "as_of": _aware_or_none("as_of", info.as_of),
            "outcome": None,
            "counts": None,
        }
        try:
            with self._write() as conn:
                if conn.execute(select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is not None:
                    raise LedgerInputError(f"run {run_id!r} already exists in the ledger")
                conn.execute(t.runs.insert(), row)
        except IntegrityError as exc:  # a concurrent start_run with the same id won the race
            raise LedgerInputError(f"run {run_id!r} already exists in the ledger") from exc

    def finish_run(self, run_id: str, finished_at: datetime, counts: Mapping[str, int], outcome: str) -> None:
        """Record how a run ended: its finish time, finding counts and outcome (e.g. `ok`, `incomplete`)."""
        finished = _aware("finished_at", finished_at)
        outcome_text = _text("outcome", str(outcome), 32)
        counts_json = _counts(counts)
        with self._write() as conn:
            started_at, previous = self._lock_run(conn, run_id)
            if previous is not None:
                raise LedgerInputError(f"run {run_id!r} already finished ({previous})")
            if finished < started_at:
                raise LedgerInputError(
                    f"run {run_id!r} cannot finish at {finished.isoformat()}, "
                    f"before it started ({started_at.isoformat()})"
                )
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == run_id)
                .values(finished_at=finished, outcome=outcome_text, counts=counts_json)
            )

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run `run_id`, or None when the ledger has no such run."""
        with self._read() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
        return None if row is None else _run_record(row)

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        """The `limit` most recently started runs, newest first."""
        if limit < 1:
            raise LedgerInputError(f"limit must be >= 1, got {limit}")
        query = select(t.runs).order_by(t.runs.c.started_at.desc(), t.runs.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [_run_record(row) for row in conn.execute(query)]

    # -- findings ----------------------------------------------------------------------------------

    def record_findings(self, run_id: str, findings: Sequence[Finding], seen_at: datetime) -> list[str]:
        """Record the findings of a run (in order; may be called several times per run).

        Each finding is upserted on its `finding_key`: `first_seen_at` keeps the earliest sighting,
        the rest follows the latest one. Returns the keys, in the order given.
        """
        seen = _aware("seen_at", seen_at)
        rows = [_finding_row(finding) for finding in findings]
        with self._write() as conn:
            self._lock_run(conn, run_id)
            if not rows:
                return []
            latest = {row["finding_key"]: row for row in rows}  # one upsert per key, the last wins
            upsert = _insert(conn, t.findings)
            newer = upsert.excluded.last_seen_at >= t.findings.c.last_seen_at
            updates: dict[str, Any] = {
                name: case((newer, upsert.excluded[name]), else_=t.findings.c[name])
                for name in ("status", "severity", "subject", "message", "evidence", "remediation", "last_run_id")
            }
            updates["last_seen_at"] = case((newer, upsert.excluded.last_seen_at), else_=t.findings.c.last_seen_at)
            updates["first_seen_at"] = case(
                (upsert.excluded.first_seen_at < t.findings.c.first_seen_at, upsert.excluded.first_seen_at),
                else_=t.findings.c.first_seen_at,
            )
            conn.execute(
                upsert.on_conflict_do_update(index_elements=[t.findings.c.finding_key], set_=updates),
                [
                    {**row, "first_seen_at": seen, "last_seen_at": seen, "last_run_id": run_id}
                    for row in latest.values()
                ],
            )
            next_seq = conn.execute(
                select(func.coalesce(func.max(t.run_findings.c.seq), -1)).where(t.run_findings.c.run_id == run_id)
            ).scalar_one()
            conn.execute(
                t.run_findings.insert(),
                [{**row, "run_id": run_id, "seq": next_seq + 1 + index} for index, row in enumerate(rows)],
            )
        return [row["finding_key"] for row in rows]

    def findings_for_run(self, run_id: str) -> list[Finding]:
        """The findings recorded for `run_id`, as recorded then (in order)."""
        with self._read() as conn:
            self._require_run(conn, run_id)
            query = select(t.run_findings).where(t.run_findings.c.run_id == run_id).order_by(t.run_findings.c.seq)
            return [_finding(row) for row in conn.execute(query)]

    def first_seen(self, finding: Finding) -> datetime | None:
        """When the ledger first saw this finding (same rule and subject), or None if never."""
        with self._read() as conn:
            return conn.execute(
                select(t.findings.c.first_seen_at).where(t.findings.c.finding_key == finding_key(finding))
            ).scalar_one_or_none()

    # -- action journal ----------------------------------------------------------------------------

    def journal_intent(self, run_id: str, action: Action, at: datetime, snapshot: Mapping[str, object]) -> int:
        """Journal the intent to act, BEFORE acting, with the object's (redacted) state; returns the entry id."""
        return self._journal(run_id, action, ActionOutcome.INTENT, at, "", snapshot)

    def journal_outcome(
        self,
        run_id: str,
        action: Action,
        outcome: ActionOutcome,
        at: datetime,
        detail: str = "",
        snapshot: Mapping[str, object] | None = None,
    ) -> int:
        """Journal what became of an action (or, for a dry run, that it is PLANNED); returns the entry id."""
        outcome = ActionOutcome(outcome)
        if outcome is ActionOutcome.INTENT:
            raise LedgerInputError("journal an intent with journal_intent, not journal_outcome")
        return self._journal(run_id, action, outcome, at, detail, snapshot or {})

    def completed_action_keys(self, since: datetime | None = None) -> set[str]:
        """Action keys whose latest journal entry (PLANNED ones aside) is DONE, at or after `since`.

        A resumed run skips these: they were acted on and confirmed.
        """
        latest = self._latest_entries()
        query = select(t.action_journal.c.action_key).join(latest, t.action_journal.c.id == latest.c.last_id)
        query = query.where(t.action_journal.c.outcome == ActionOutcome.DONE.value)
        if since is not None:
            query = query.where(t.action_journal.c.at >= _aware("since", since))
        with self._read() as conn:
            return set(conn.execute(query).scalars())

    def pending_intents(self) -> list[JournalEntry]:
        """Intents with no outcome after them (PLANNED aside): a run crashed mid-action.

        Whoever resumes must re-read each subject to learn whether the action happened.
        """
        latest = self._latest_entries()
        query = (
            select(t.action_journal)
            .join(latest, t.action_journal.c.id == latest.c.last_id)
            .where(t.action_journal.c.outcome == ActionOutcome.INTENT.value)
            .order_by(t.action_journal.c.id)
        )
        with self._read() as conn:
            return [_journal_entry(row) for row in conn.execute(query)]

    def actions_for_run(self, run_id: str, *, journal: bool = False) -> list[ActionRecord]:
        """The actions of a run: by default one record per action (its latest entry in that run), in
        the order they were first journaled; with `journal=True` every entry, intents included.
        """
        query = select(t.action_journal).where(t.action_journal.c.run_id == run_id).order_by(t.action_journal.c.id)
        with self._read() as conn:
            self._require_run(conn, run_id)
            entries = [_journal_entry(row) for row in conn.execute(query)]
        if journal:
            return [entry.record for entry in entries]
        latest: dict[str, ActionRecord] = {}
        for entry in entries:
            latest[entry.record.action.key] = entry.record  # keeps the first position, takes the last value
        return list(latest.values())

    # -- holds -------------------------------------------------------------------------------------

    def place_hold(
        self,
        target_type: HoldTarget | str,
        target: str,
        reason: str,
        by: str,
        at: datetime,
        until: datetime,
        max_duration: timedelta,
    ) -> Hold:
        """Place a hold on a version or an account from `at` until `until`; journals a `placed` event."""
        kind = _hold_target(target_type)
        target = _text("hold target", target, 256)
        reason = _text("hold reason", reason, None)
        by = _text("hold placed_by (by)", by, 128)
        start = _aware("at", at)
        end = _aware("until", until)
        if max_duration <= timedelta(0):
            raise LedgerInputError(f"max_duration must be positive, got {_duration(max_duration)}")
        if end <= start:
            raise LedgerInputError(f"hold until {end.isoformat()} must be after its start {start.isoformat()}")
        if end - start > max_duration:
            raise LedgerInputError(
                f"hold of {_duration(end - start)} exceeds the maximum hold duration of {_duration(max_duration)}"
            )
        with self._write() as conn:
            hold_id = _new_hold_id(conn)
            hold = Hold(hold_id, kind, target, reason, by, start, end)
            conn.execute(
                t.holds.insert(),
                {
                    "id": hold_id,
                    "target_type": kind.value,
                    "target": target,
                    "reason": reason,
                    "placed_by": by,
                    "placed_at": start,
                    "until": end,
                },
            )
            _hold_event(conn, hold_id, HoldEventKind.PLACED, by, reason, start)
        return hold

    def release_hold(self, hold_id: str, by: str, reason: str, at: datetime) -> Hold:
        """Lift an unreleased hold; journals a `released` event. Returns the released hold."""
        by = _text("release by", by, 128)
        reason = _text("release reason", reason, None)
        when = _aware("at", at)
        with self._write() as conn:
            row = conn.execute(select(t.holds).where(t.holds.c.id == hold_id).with_for_update()).first()
            if row is None:
                raise LedgerInputError(f"no hold {hold_id!r} in the ledger")
            hold = _hold(row)
            if hold.released_at is not None:
                raise LedgerInputError(
                    f"hold {hold_id} was already released at {hold.released_at.isoformat()} by {hold.released_by}"
                )
            if when < hold.placed_at:
                raise LedgerInputError(
                    f"hold {hold_id} cannot be released at {when.isoformat()}, "
                    f"before it was placed ({hold.placed_at.isoformat()})"
                )
            updated = conn.execute(
                t.holds.update()
                .where(t.holds.c.id == hold_id, t.holds.c.released_at.is_(None))
                .values(released_at=when, released_by=by, release_reason=reason)
            )
            if updated.rowcount != 1:  # pragma: no cover - the row lock above prevents it
                raise LedgerInputError(f"hold {hold_id} was released concurrently")
            _hold_event(conn, hold_id, HoldEventKind.RELEASED, by, reason, when)
        return dataclasses.replace(hold, released_at=when, released_by=by, release_reason=reason)

    def get_hold(self, hold_id: str) -> Hold | None:
        """The hold `hold_id`, or None."""
        with self._read() as conn:
            row = conn.execute(select(t.holds).where(t.holds.c.id == hold_id)).first()
        return None if row is None else _hold(row)

    def list_holds(self, include_inactive: bool, now: datetime) -> list[Hold]:
        """Holds active at `now` (as `Hold.active_at` says), or with `include_inactive` every hold."""
        query = select(t.holds).order_by(t.holds.c.placed_at, t.holds.c.id)
        if not include_inactive:
            instant = _aware("now", now)
            query = query.where(
                t.holds.c.released_at.is_(None), t.holds.c.placed_at <= instant, t.holds.c.until > instant
            )
        with self._read() as conn:
            return [_hold(row) for row in conn.execute(query)]

    def holds_active_at(self, now: datetime) -> list[Hold]:
        """The holds that protect their targets at `now`."""
        return self.list_holds(False, now)

    def hold_events(self, hold_id: str) -> list[HoldEvent]:
        """The journal of one hold (placed, released), oldest first."""
        with self._read() as conn:
            if conn.execute(select(t.holds.c.id).where(t.holds.c.id == hold_id)).first() is None:
                raise LedgerInputError(f"no hold {hold_id!r} in the ledger")
            query = select(t.hold_events).where(t.hold_events.c.hold_id == hold_id).order_by(t.hold_events.c.id)
            return [
                HoldEvent(row.hold_id, HoldEventKind(row.event), row.actor, row.reason, row.at)
                for row in conn.execute(query)
            ]

    # -- internals ---------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    @staticmethod
    def _require_run(conn: Connection, run_id: str) -> None:
        if conn.execute(select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
            raise LedgerInputError(f"no run {run_id!r} in the ledger")

    @staticmethod
    def _lock_run(conn: Connection, run_id: str) -> tuple[datetime, str | None]:
        """Lock the run's row until the transaction ends; returns its start time and outcome."""
        row = conn.execute(
            select(t.runs.c.started_at, t.runs.c.outcome).where(t.runs.c.id == run_id).with_for_update()
        ).first()
        if row is None:
            raise LedgerInputError(f"no run {run_id!r} in the ledger")
        return row.started_at, row.outcome

    @staticmethod
    def _latest_entries() -> Any:
        """Per action key, the id of its latest journal entry that is not PLANNED."""
        return (
            select(t.action_journal.c.action_key, func.max(t.action_journal.c.id).label("last_id"))
            .where(t.action_journal.c.outcome != ActionOutcome.PLANNED.value)
            .group_by(t.action_journal.c.action_key)
            .subquery()
        )

    def _journal(
        self,
        run_id: str,
        action: Action,
        outcome: ActionOutcome,
        at: datetime,
        detail: str,
        snapshot: Mapping[str, object],
    ) -> int:
        row = {
            "run_id": run_id,
            "action_key": _text("action key", action.key, 512),
            "kind": ActionKind(action.kind).value,
            "subject": _subject_json(action.subject),
            "rule": _text("action rule", action.rule, 128),
            "reason": str(action.reason),
            "outcome": outcome.value,
            "at": _aware("at", at),
            "detail": str(detail),
            "snapshot": _jsonable(redact_mapping(snapshot), "snapshot"),
            "plan": _plan_json(action),
        }
        with self._write() as conn:
            self._require_run(conn, run_id)
            entry_id = conn.execute(t.action_journal.insert().returning(t.action_journal.c.id), row).scalar_one()
        return int(entry_id)


# -- engine and migrations -----------------------------------------------------------------------


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise LedgerInputError(f"invalid ledger URL {url!r}: use sqlite:///PATH or postgresql+psycopg://...") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    shown = parsed.render_as_string(hide_password=True)
    raise LedgerInputError(f"unsupported ledger URL {shown!r}: use sqlite:///PATH or postgresql+psycopg://...")


def _sqlite_engine(parsed: URL) -> Engine:
    database = parsed.database or ""
    memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    connect_args: dict[str, Any] = {"timeout": _SQLITE_BUSY_TIMEOUT_S}
    if memory:
        engine = create_engine(parsed, connect_args={**connect_args, "check_same_thread": False}, poolclass=StaticPool)
    else:
        if not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (see `_on_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not memory and str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            # WAL lets readers (reports) run beside a writer. Switching needs an exclusive lock and
            # does not wait for it: if another connection holds one, a later connection switches.
            with suppress(sqlite3.OperationalError):
                cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def _upgrade(engine: Engine) -> None:
    """`alembic upgrade head` in one transaction, serialized across processes."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def _insert(conn: Connection, table: Any) -> Any:
    """An INSERT that supports `ON CONFLICT` on this connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# -- validation and conversion -------------------------------------------------------------------


def _aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise LedgerInputError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise LedgerInputError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _aware_or_none(name: str, value: datetime | None) -> datetime | None:
    return None if value is None else _aware(name, value)


def _text(name: str, value: str, max_len: int | None, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise LedgerInputError(f"{name} must be a string, got {type(value).__name__}")
    stripped = value.strip()
    if not stripped and not allow_empty:
        raise LedgerInputError(f"{name} must not be empty")
    if max_len is not None and len(stripped) > max_len:
        raise LedgerInputError(f"{name} is longer than {max_len} characters")
    return stripped


def _counts(counts: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise LedgerInputError(f"count {key!r} must be an integer, got {value!r}")
        out[str(key)] = value
    return out


def _hold_target(value: HoldTarget | str) -> HoldTarget:
    try:
        return HoldTarget(value)
    except ValueError:
        allowed = ", ".join(member.value for member in HoldTarget)
        raise LedgerInputError(f"hold target type {value!r} is not one of: {allowed}") from None


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + (" ".join(parts) or "0s")


def _jsonable(value: object, path: str) -> Any:
    """`value` as plain JSON (datetimes as ISO strings, enums as values), or LedgerInputError."""
    if isinstance(value, Enum):
        return _jsonable(value.value, path)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise LedgerInputError(f"{path} is not JSON-able: {type(value).__name__}")


def _subject_json(subject: Subject) -> dict[str, str | None]:
    return {name: (None if value is None else str(value)) for name, value in dataclasses.asdict(subject).items()}


_SUBJECT_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(Subject))


def _subject(data: Mapping[str, Any]) -> Subject:
    return Subject(**{name: value for name, value in data.items() if name in _SUBJECT_FIELDS})


def _finding_row(finding: Finding) -> dict[str, Any]:
    rule = _text("finding rule", finding.rule, 100)
    return {
        "finding_key": finding_key(finding),
        "rule": rule,
        "status": Status(finding.status).value,
        "severity": Severity(finding.severity).value,
        "subject": _subject_json(finding.subject),
        "message": str(finding.message),
        "evidence": _jsonable(finding.evidence, "evidence"),
        "remediation": str(finding.remediation),
    }


def _finding(row: Row[Any]) -> Finding:
    return Finding(
        rule=row.rule,
        status=Status(row.status),
        severity=Severity(row.severity),
        subject=_subject(row.subject),
        message=row.message,
        evidence=dict(row.evidence),
        remediation=row.remediation,
    )


def _run_record(row: Row[Any]) -> RunRecord:
    info = RunInfo(
        run_id=row.id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        mode=RunMode(row.mode),
        applied=bool(row.applied),
        config_digest=row.config_digest,
        tool_version=row.tool_version,
        as_of=row.as_of,
    )
    return RunRecord(info=info, outcome=row.outcome, counts=dict(row.counts or {}))


def _plan_json(action: Action) -> dict[str, Any]:
    return {
        "scope": action.scope.key if action.scope is not None else None,
        "target_kind": action.target_kind.value,
        "target": action.target,
        "not_before": action.not_before.isoformat() if action.not_before else None,
        "after": list(action.after),
        "params": [list(pair) for pair in action.params],
    }


def _action(row: Row[Any]) -> Action:
    subject = _subject(row.subject)
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


def _journal_entry(row: Row[Any]) -> JournalEntry:
    action = _action(row)
    record = ActionRecord(
        action=action, outcome=ActionOutcome(row.outcome), at=row.at, detail=row.detail, snapshot=dict(row.snapshot)
    )
    return JournalEntry(entry_id=int(row.id), run_id=row.run_id, record=record)


def _hold(row: Row[Any]) -> Hold:
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


def _new_hold_id(conn: Connection) -> str:
    for _ in range(_HOLD_ID_ATTEMPTS):
        candidate = f"H-{secrets.token_hex(4)}"
        if conn.execute(select(t.holds.c.id).where(t.holds.c.id == candidate)).first() is None:
            return candidate
    raise RuntimeError("could not draw an unused hold id")  # pragma: no cover - 2**32 ids


def _hold_event(conn: Connection, hold_id: str, kind: HoldEventKind, by: str, reason: str, at: datetime) -> None:
    conn.execute(
        t.hold_events.insert(), {"hold_id": hold_id, "event": kind.value, "actor": by, "reason": reason, "at": at}
    )
