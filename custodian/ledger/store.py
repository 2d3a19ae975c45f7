"""The ledger: runs, findings, the action journal, holds (and job runs, leases), in SQLite or PostgreSQL.

`Ledger.open(url)` connects (creating a SQLite file's directory) and upgrades the schema with the
Alembic migrations shipped in this package; every method is one transaction. Times are passed in
(timezone-aware; stored and returned as UTC): the ledger never reads the clock, but for the apply
lock's heartbeat (`custodian.ledger.locks`: real time, whatever clock the run uses). Secrets are never
stored: journal snapshots go through `redact` first, and nothing else here takes secrets.

Concurrency: several processes may share one PostgreSQL ledger (row locks, `ON CONFLICT` upserts,
an advisory lock around migrations); on SQLite, write transactions take the database write lock up
front (`BEGIN IMMEDIATE`, with a busy timeout), so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, case, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlalchemy.pool import StaticPool

from custodian.ledger import schema as t
from custodian.ledger.events import EventsLedger
from custodian.ledger.facts import FactsLedger
from custodian.ledger.holds import HoldsLedger
from custodian.ledger.journal import JournalLedger
from custodian.ledger.listings import ListingsLedger
from custodian.ledger.locks import DEFAULT_APPLY_TTL, ApplyLock, in_memory
from custodian.ledger.notices import NoticesLedger
from custodian.ledger.processes import SessionLock
from custodian.ledger.rows import (
    HoldEvent,
    HoldEventKind,
    JournalEntry,
    LedgerInputError,
    RunRecord,
    aware,
    aware_or_none,
    checked_text,
    counts_json,
    finding_key,
    finding_of_row,
    finding_row,
    jsonable,
    require_run,
    run_record,
)
from custodian.ledger.scheduling import SchedulingLedger
from custodian.model import (
    Finding,
    RunInfo,
    RunMode,
)
from custodian.private_files import create_private_file

__all__ = ["HoldEvent", "HoldEventKind", "JournalEntry", "Ledger", "LedgerInputError", "RunRecord", "finding_key"]

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK: Final = 0x5C0DE_1ED6E  # pg_advisory_xact_lock key held while upgrading
_WRITE: Final = "custodian_ledger_write"  # execution option: this transaction writes
_SQLITE_BUSY_TIMEOUT_S: Final = 30.0
_HOLD_ID_ATTEMPTS: Final = 16


class Ledger(SchedulingLedger, JournalLedger, HoldsLedger, NoticesLedger, EventsLedger, FactsLedger, ListingsLedger):
    """The ledger of one database; open with `Ledger.open(url)`, close with `close()` (or `with`).

    The run ledger of scheduled jobs and the leader lease are in `SchedulingLedger`.
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose schema is already at head; use `Ledger.open` instead."""
        self._engine = engine

    def apply_lock(self, run_id: str, ttl: timedelta = DEFAULT_APPLY_TTL) -> ApplyLock:
        """The lock an applied run holds for its whole length (`acquire` raises `LockHeldError` naming the holder)."""
        session = SessionLock(self._engine) if self._engine.dialect.name == "postgresql" else None
        return ApplyLock(self, run_id, ttl=ttl, memory=in_memory(self._engine.url), session=session)

    # -- the release timeline's evidence ------------------------------------------------------------

    def record_tag_sightings(self, repo: str, tags: Sequence[str], at: datetime) -> dict[str, datetime]:
        """Record `at` as the first sighting of each tag not seen before; return every tag's first sighting."""
        at = aware("at", at)
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

        A SQLite file and its directory are created owner-only (0600/0700; SQLite's `-wal`/`-shm`
        take the file's mode); `postgresql://` means the psycopg (3) driver. A database that cannot
        be reached or read (a wrong URL, a file that is not SQLite) is a `LedgerInputError` naming
        the cause, raised before anything is written.
        """
        engine = _create_engine(url)
        try:
            _upgrade(engine)
        except (DBAPIError, CommandError) as exc:
            engine.dispose()
            shown = engine.url.render_as_string(hide_password=True)
            cause = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
            raise LedgerInputError(f"cannot open the ledger {shown}: {cause}") from exc
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
        run_id = checked_text("run_id", info.run_id, 64)
        row = {
            "id": run_id,
            "started_at": aware("started_at", info.started_at),
            "finished_at": aware_or_none("finished_at", info.finished_at),
            "mode": RunMode(info.mode).value,
            "applied": bool(info.applied),
            "config_digest": checked_text("config_digest", info.config_digest, 128, allow_empty=True),
            "tool_version": checked_text("tool_version", info.tool_version, 64),
            "as_of": aware_or_none("as_of", info.as_of),
            "trigger": None if info.trigger is None else checked_text("trigger", info.trigger, 512),
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

    def finish_run(
        self,
        run_id: str,
        finished_at: datetime,
        counts: Mapping[str, int],
        outcome: str,
        costs: Mapping[str, Any] | None = None,
    ) -> None:
        """Record how a run ended: its finish time, finding counts, outcome (e.g. `ok`, `incomplete`) and,
        for the finance trend, its cost totals (plain JSON: findings.json's `costs` document)."""
        finished = aware("finished_at", finished_at)
        outcome_text = checked_text("outcome", str(outcome), 32)
        counts_value = counts_json(counts)
        costs_value = None if costs is None else jsonable(dict(costs), "costs")
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
                .values(finished_at=finished, outcome=outcome_text, counts=counts_value, costs=costs_value)
            )

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run `run_id`, or None when the ledger has no such run."""
        with self._read() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
        return None if row is None else run_record(row)

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        """The `limit` most recently started runs, newest first."""
        if limit < 1:
            raise LedgerInputError(f"limit must be >= 1, got {limit}")
        query = select(t.runs).order_by(t.runs.c.started_at.desc(), t.runs.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [run_record(row) for row in conn.execute(query)]

    def runs_since(self, since: datetime, limit: int = 10_000) -> list[RunRecord]:
        """The runs started at or after `since`, oldest first (at most `limit`, the newest of them)."""
        start = aware("since", since)
        if limit < 1:
            raise LedgerInputError(f"limit must be >= 1, got {limit}")
        query = (
            select(t.runs)
            .where(t.runs.c.started_at >= start)
            .order_by(t.runs.c.started_at.desc(), t.runs.c.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [run_record(row) for row in reversed(conn.execute(query).all())]

    # -- findings ----------------------------------------------------------------------------------

    def record_findings(self, run_id: str, findings: Sequence[Finding], seen_at: datetime) -> list[str]:
        """Record the findings of a run (in order; may be called several times per run).

        Each finding is upserted on its `finding_key`: `first_seen_at` keeps the earliest sighting,
        the rest follows the latest one. Returns the keys, in the order given.
        """
        seen = aware("seen_at", seen_at)
        rows = [finding_row(finding) for finding in findings]
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
            require_run(conn, run_id)
            query = select(t.run_findings).where(t.run_findings.c.run_id == run_id).order_by(t.run_findings.c.seq)
            return [finding_of_row(row) for row in conn.execute(query)]

    def first_seen(self, finding: Finding) -> datetime | None:
        """When the ledger first saw this finding (same rule and subject), or None if never."""
        with self._read() as conn:
            return conn.execute(
                select(t.findings.c.first_seen_at).where(t.findings.c.finding_key == finding_key(finding))
            ).scalar_one_or_none()

    # -- action journal ----------------------------------------------------------------------------

    # -- holds -------------------------------------------------------------------------------------

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
    def _lock_run(conn: Connection, run_id: str) -> tuple[datetime, str | None]:
        """Lock the run's row until the transaction ends; returns its start time and outcome."""
        row = conn.execute(
            select(t.runs.c.started_at, t.runs.c.outcome).where(t.runs.c.id == run_id).with_for_update()
        ).first()
        if row is None:
            raise LedgerInputError(f"no run {run_id!r} in the ledger")
        return row.started_at, row.outcome


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
            path = Path(database).expanduser()
            try:
                create_private_file(path)  # before SQLite does: with the umask's mode, it would be world-readable
            except OSError as exc:
                raise LedgerInputError(f"cannot create the ledger file {path}: {exc.strerror or exc}") from exc
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
