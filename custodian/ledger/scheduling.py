"""The ledger's part of the scheduled service: the run ledger (`job_runs`) and the leader lease.

Run ledger: one row per (job id, scheduled slot), unique. Claiming a slot is an insert-or-skip in
one transaction, so a slot runs at most once however many replicas race for it and however often
the service restarts; missed slots and skipped overlapping runs are rows too, with their status.

Lease: one row per lease name (`scheduler`: the leader lease; `apply`: the apply lock, see
`custodian.ledger.locks`, which holds the one keeper of both). On PostgreSQL every time in it comes
from the database's clock (`now()` in SQL): replicas' clocks do not matter. Taking the lease from
another holder (after it expired, or from a holder whose process is known to be gone) increases
`epoch`, the fencing token: whoever acts checks that the epoch it started under is still current. On
SQLite (a file on one host) the caller's clock is used: the apply lock passes the host's wall clock;
the scheduler its own clock, and a `takeover` is allowed under its replica lock file, since the lock
proves the previous holder is gone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Interval, bindparam, case, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import ColumnElement

from custodian.ledger import schema as t
from custodian.ledger.schema import UTCDateTime


class JobStatus(StrEnum):
    RUNNING = "running"  # claimed; the job is running (or its replica died: see ABANDONED)
    SUCCEEDED = "succeeded"  # ran to the end (its findings may still FAIL: that is the product, not an error)
    INCOMPLETE = "incomplete"  # ran, but the run is incomplete (ERROR findings, failed or unconfirmed actions)
    FAILED = "failed"  # raised, or could not run (e.g. no reaper in this version)
    FENCED = "fenced"  # stopped acting: its replica lost the lease (a newer epoch leads)
    INTERRUPTED = "interrupted"  # stopped acting: the service was asked to stop (SIGTERM/SIGINT)
    ABANDONED = "abandoned"  # was running on a replica that is gone (found by the next leader)
    MISSED = "missed"  # not run: no scheduler was leading then, or it was too late
    SKIPPED = "skipped"  # not run: the previous run of the job was still running (overlap)


FINAL_STATUSES = frozenset(JobStatus) - {JobStatus.RUNNING}


class ClaimResult(StrEnum):
    CLAIMED = "claimed"  # the row is ours
    TAKEN = "taken"  # the slot already has a row (another replica, or an earlier run)
    NOT_LEADER = "not_leader"  # the lease checked in the same transaction is not ours at that epoch


@dataclass(frozen=True)
class JobRun:
    """One row of the run ledger."""

    job_id: str
    slot: datetime
    kind: str
    status: JobStatus
    catch_up: bool
    holder: str
    epoch: int
    claimed_at: datetime
    finished_at: datetime | None
    run_id: str | None
    detail: str
    summary: Mapping[str, Any]


@dataclass(frozen=True)
class LeaseState:
    """A lease as the database sees it; `now` is the database's time when it was read."""

    name: str
    holder: str
    epoch: int
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    now: datetime

    def held_by(self, holder: str, epoch: int | None = None) -> bool:
        """Whether `holder` (at `epoch`, when given) holds the lease, unexpired, at `now`."""
        return self.holder == holder and self.expires_at > self.now and (epoch is None or self.epoch == epoch)


@dataclass(frozen=True)
class LeaseToken:
    """What a leader acts under: the lease, its holder and the epoch it was granted."""

    name: str
    holder: str
    epoch: int


class SchedulingLedger(ABC):
    """Run-ledger and lease methods of `Ledger` (mixed in; see `custodian.ledger.store`)."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Connection]: ...

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]: ...

    # -- run ledger --------------------------------------------------------------------------------

    def claim_job_slot(
        self,
        job_id: str,
        slot: datetime,
        kind: str,
        *,
        holder: str,
        epoch: int,
        at: datetime,
        status: JobStatus = JobStatus.RUNNING,
        catch_up: bool = False,
        detail: str = "",
        lease: LeaseToken | None = None,
    ) -> ClaimResult:
        """Insert the row of (job_id, slot) unless it exists, in one transaction.

        With `lease`, the lease is checked (and share-locked on PostgreSQL) in the same transaction:
        a replica that is no longer the leader at that epoch claims nothing.
        """
        row = {
            "job_id": job_id,
            "slot": slot,
            "kind": kind,
            "status": JobStatus(status).value,
            "catch_up": catch_up,
            "holder": holder,
            "epoch": epoch,
            "claimed_at": at,
            "finished_at": None if status is JobStatus.RUNNING else at,
            "run_id": None,
            "detail": detail,
            "summary": None,
        }
        with self._write() as conn:
            if lease is not None:
                state = _lease_state(conn, lease.name, at, lock=True)
                if state is None or not state.held_by(lease.holder, lease.epoch):
                    return ClaimResult.NOT_LEADER
            insert = _insert(conn, t.job_runs).values(row)
            inserted = conn.execute(
                insert.on_conflict_do_nothing(index_elements=["job_id", "slot"]).returning(t.job_runs.c.id)
            ).first()
        return ClaimResult.CLAIMED if inserted is not None else ClaimResult.TAKEN

    def finish_job_slot(
        self,
        job_id: str,
        slot: datetime,
        *,
        holder: str,
        status: JobStatus,
        at: datetime,
        detail: str,
        run_id: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record how the holder's run of a slot ended (also after another leader marked it abandoned)."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"{status} is not a final status")
        with self._write() as conn:
            updated = conn.execute(
                t.job_runs.update()
                .where(
                    t.job_runs.c.job_id == job_id,
                    t.job_runs.c.slot == bindparam("slot_value", slot, type_=UTCDateTime()),
                    t.job_runs.c.holder == holder,
                    t.job_runs.c.status.in_([JobStatus.RUNNING.value, JobStatus.ABANDONED.value]),
                )
                .values(
                    status=status.value,
                    finished_at=at,
                    detail=detail,
                    run_id=run_id,
                    summary=dict(summary) if summary is not None else None,
                )
            )
        return updated.rowcount == 1

    def abandon_job_runs(self, *, except_holder: str, at: datetime) -> list[JobRun]:
        """Mark every RUNNING row of other holders ABANDONED (a new leader does this: they are gone)."""
        with self._write() as conn:
            rows = conn.execute(
                select(t.job_runs)
                .where(t.job_runs.c.status == JobStatus.RUNNING.value, t.job_runs.c.holder != except_holder)
                .with_for_update()
            ).all()
            if rows:
                conn.execute(
                    t.job_runs.update()
                    .where(t.job_runs.c.id.in_([row.id for row in rows]))
                    .values(
                        status=JobStatus.ABANDONED.value,
                        finished_at=at,
                        detail="its replica stopped renewing the lease while it ran (killed or cut off)",
                    )
                )
        return [_job_run(row) for row in rows]

    def latest_job_run(self, job_id: str, status: JobStatus | None = None) -> JobRun | None:
        """The row of the job's latest slot (with `status`, when given), or None if there is none."""
        query = select(t.job_runs).where(t.job_runs.c.job_id == job_id)
        if status is not None:
            query = query.where(t.job_runs.c.status == JobStatus(status).value)
        query = query.order_by(t.job_runs.c.slot.desc()).limit(1)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _job_run(row)

    def get_job_run(self, job_id: str, slot: datetime) -> JobRun | None:
        query = select(t.job_runs).where(
            t.job_runs.c.job_id == job_id, t.job_runs.c.slot == bindparam("slot_value", slot, type_=UTCDateTime())
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _job_run(row)

    def list_job_runs(
        self,
        job_id: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> list[JobRun]:
        """Rows by slot (oldest first), optionally of one job and within [since, until)."""
        query = select(t.job_runs)
        if job_id is not None:
            query = query.where(t.job_runs.c.job_id == job_id)
        if since is not None:
            query = query.where(t.job_runs.c.slot >= bindparam("since_value", since, type_=UTCDateTime()))
        if until is not None:
            query = query.where(t.job_runs.c.slot < bindparam("until_value", until, type_=UTCDateTime()))
        query = query.order_by(t.job_runs.c.slot, t.job_runs.c.job_id).limit(limit)
        with self._read() as conn:
            return [_job_run(row) for row in conn.execute(query)]

    # -- leases ------------------------------------------------------------------------------------

    def acquire_lease(
        self,
        name: str,
        holder: str,
        ttl: timedelta,
        *,
        at: datetime,
        takeover: bool = False,
        replacing: str | None = None,
    ) -> LeaseState:
        """Take or renew the lease for `ttl`; returns the lease as it then is (held by us or not).

        The lease is ours when it is free, expired, or already ours; taking it from another holder
        increases the epoch. `replacing` names a holder known to be dead (its process is gone): the
        lease is taken from it even unexpired, but only if it still holds it (compare-and-swap).
        `takeover` (SQLite only, under the replica lock) takes it from anybody, even unexpired.
        On PostgreSQL the database clock decides (`at` is not used); on SQLite `at` is the time.
        """
        if ttl <= timedelta(0):
            raise ValueError("a lease needs a positive ttl")
        with self._write() as conn:
            postgres = conn.dialect.name == "postgresql"
            now: ColumnElement[Any] = func.now() if postgres else literal(at, UTCDateTime())
            expires: ColumnElement[Any] = (
                func.now() + bindparam("ttl", ttl, type_=Interval()) if postgres else literal(at + ttl, UTCDateTime())
            )
            insert = _insert(conn, t.leases).values(
                name=name, holder=holder, epoch=1, acquired_at=now, renewed_at=now, expires_at=expires
            )
            same = t.leases.c.holder == insert.excluded.holder
            ours_or_free = None if takeover and not postgres else same | (t.leases.c.expires_at <= now)
            if ours_or_free is not None and replacing is not None:
                ours_or_free = ours_or_free | (t.leases.c.holder == replacing)
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["name"],
                    set_={
                        "holder": insert.excluded.holder,
                        "epoch": case((same, t.leases.c.epoch), else_=t.leases.c.epoch + 1),
                        "acquired_at": case((same, t.leases.c.acquired_at), else_=insert.excluded.acquired_at),
                        "renewed_at": insert.excluded.renewed_at,
                        "expires_at": insert.excluded.expires_at,
                    },
                    where=ours_or_free,
                )
            )
            state = _lease_state(conn, name, at, lock=False)
        assert state is not None  # the upsert made the row exist
        return state

    def renew_lease(self, name: str, holder: str, epoch: int, ttl: timedelta, *, at: datetime) -> LeaseState | None:
        """Extend the lease by `ttl` only if `holder` still holds it at `epoch`, unexpired (never re-take
        it); returns the lease as it then is. Database time on PostgreSQL, `at` on SQLite."""
        with self._write() as conn:
            postgres = conn.dialect.name == "postgresql"
            now: ColumnElement[Any] = func.now() if postgres else literal(at, UTCDateTime())
            expires: ColumnElement[Any] = (
                func.now() + bindparam("ttl", ttl, type_=Interval()) if postgres else literal(at + ttl, UTCDateTime())
            )
            conn.execute(
                t.leases.update()
                .where(
                    t.leases.c.name == name,
                    t.leases.c.holder == holder,
                    t.leases.c.epoch == epoch,
                    t.leases.c.expires_at > now,
                )
                .values(renewed_at=now, expires_at=expires)
            )
            return _lease_state(conn, name, at, lock=False)

    def read_lease(self, name: str, *, at: datetime) -> LeaseState | None:
        """The lease as it is now (database time on PostgreSQL, `at` on SQLite), or None."""
        with self._read() as conn:
            return _lease_state(conn, name, at, lock=False)

    def release_lease(self, name: str, holder: str, *, at: datetime) -> bool:
        """Let the lease expire now if `holder` holds it (a clean shutdown: a standby takes over at once)."""
        with self._write() as conn:
            now: ColumnElement[Any] = func.now() if conn.dialect.name == "postgresql" else literal(at, UTCDateTime())
            updated = conn.execute(
                t.leases.update()
                .where(t.leases.c.name == name, t.leases.c.holder == holder, t.leases.c.expires_at > now)
                .values(expires_at=now)
            )
        return updated.rowcount == 1


def _insert(conn: Connection, table: Any) -> Any:
    """An INSERT that supports `ON CONFLICT` on this connection's dialect."""
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def _lease_state(conn: Connection, name: str, at: datetime, *, lock: bool) -> LeaseState | None:
    postgres = conn.dialect.name == "postgresql"
    now: ColumnElement[Any] = func.now() if postgres else literal(at, UTCDateTime())
    query = select(t.leases, now.label("db_now")).where(t.leases.c.name == name)
    if lock and postgres:
        query = query.with_for_update(read=True, of=t.leases)
    row = conn.execute(query).first()
    if row is None:
        return None
    db_now = UTCDateTime().process_result_value(row.db_now, conn.dialect) if postgres else at
    assert db_now is not None
    return LeaseState(row.name, row.holder, int(row.epoch), row.acquired_at, row.renewed_at, row.expires_at, db_now)


def _job_run(row: Row[Any]) -> JobRun:
    return JobRun(
        job_id=row.job_id,
        slot=row.slot,
        kind=row.kind,
        status=JobStatus(row.status),
        catch_up=bool(row.catch_up),
        holder=row.holder,
        epoch=int(row.epoch),
        claimed_at=row.claimed_at,
        finished_at=row.finished_at,
        run_id=row.run_id,
        detail=row.detail,
        summary=dict(row.summary or {}),
    )
