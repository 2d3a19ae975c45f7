"""The ledger's webhook events (`EventsLedger`, a `Ledger` mixin): GitHub deliveries, deduplicated, due runs.

Any replica records a delivery (`record_webhook_event`: an insert-or-skip on the delivery id, so
a redelivery or a replay is recorded, and acts, once). A delivery that asks for a hand-off is
`pending` with a `due_at` (the tag's time plus the grace); the leader takes the due ones
(`due_webhook_events`, then `claim_webhook_event`, which checks its lease in the same transaction,
as slot claims do), runs them and records how it went (`finish_webhook_event`). A new leader puts
the events a gone leader left `running` back to `pending` (`requeue_webhook_events`): the run is
idempotent (the journal settles what the crashed one started).

`EventsLedger` is mixed into `Ledger`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.engine import Row

from custodian.ledger import schema as t
from custodian.ledger.rows import aware, aware_or_none
from custodian.ledger.scheduling import LeaseToken, _insert, _lease_state

if TYPE_CHECKING:
    pass


class EventStatus(StrEnum):
    PENDING = "pending"  # its version-scoped run is due at `due_at`
    RUNNING = "running"  # a leader runs it
    DONE = "done"  # its run finished (the run's own outcome is on the run)
    FAILED = "failed"  # its run raised; the schedule is the safety net
    RECORDED = "recorded"  # kept for the record, nothing to run (a deleted tag)
    IGNORED = "ignored"  # not ours: another repository, not a release tag, not a production success


@dataclass(frozen=True)
class WebhookEvent:
    """One row of `webhook_events`."""

    delivery_id: str
    event: str
    action: str
    repo: str
    ref: str | None
    version: str | None
    stage: str | None
    status: EventStatus
    received_at: datetime
    occurred_at: datetime | None = None
    due_at: datetime | None = None
    holder: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    run_id: str | None = None
    detail: str = ""

    @property
    def trigger(self) -> str:
        """How a run made for this event names its trigger (`event:<delivery id>`)."""
        return f"event:{self.delivery_id}"


class EventsLedger(ABC):
    """Webhook-event methods of a ledger (see the module docstring)."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Connection]: ...

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]: ...

    def record_webhook_event(self, event: WebhookEvent) -> bool:
        """Insert the delivery unless its id is known; False for a redelivery (nothing written)."""
        aware("received_at", event.received_at)
        row = {
            "delivery_id": event.delivery_id[:64],
            "event": event.event[:64],
            "action": event.action[:64],
            "repo": event.repo[:256],
            "ref": event.ref[:256] if event.ref else None,
            "version": event.version,
            "stage": event.stage,
            "status": EventStatus(event.status).value,
            "received_at": event.received_at,
            "occurred_at": aware_or_none("occurred_at", event.occurred_at),
            "due_at": aware_or_none("due_at", event.due_at),
            "holder": None,
            "started_at": None,
            "finished_at": None,
            "run_id": None,
            "detail": event.detail[:2000],
        }
        with self._write() as conn:
            insert = _insert(conn, t.webhook_events).values(row)
            inserted = conn.execute(
                insert.on_conflict_do_nothing(index_elements=["delivery_id"]).returning(t.webhook_events.c.id)
            ).first()
        return inserted is not None

    def get_webhook_event(self, delivery_id: str) -> WebhookEvent | None:
        with self._read() as conn:
            row = conn.execute(select(t.webhook_events).where(t.webhook_events.c.delivery_id == delivery_id)).first()
        return _event(row) if row is not None else None

    def list_webhook_events(self, limit: int = 100) -> list[WebhookEvent]:
        """The latest deliveries first."""
        with self._read() as conn:
            rows = conn.execute(select(t.webhook_events).order_by(t.webhook_events.c.id.desc()).limit(limit)).all()
        return [_event(row) for row in rows]

    def due_webhook_events(self, now: datetime, limit: int = 20) -> list[WebhookEvent]:
        """Pending events whose time has come, the earliest due first."""
        now = aware("now", now)
        c = t.webhook_events.c
        with self._read() as conn:
            rows = conn.execute(
                select(t.webhook_events)
                .where(c.status == EventStatus.PENDING.value, c.due_at <= now)
                .order_by(c.due_at, c.id)
                .limit(limit)
            ).all()
        return [_event(row) for row in rows]

    def claim_webhook_event(self, delivery_id: str, *, lease: LeaseToken, at: datetime) -> bool:
        """Pending -> running for the leader holding `lease` (checked in the same transaction)."""
        at = aware("at", at)
        c = t.webhook_events.c
        with self._write() as conn:
            state = _lease_state(conn, lease.name, at, lock=True)
            if state is None or not state.held_by(lease.holder, lease.epoch):
                return False
            updated = conn.execute(
                t.webhook_events.update()
                .where(c.delivery_id == delivery_id, c.status == EventStatus.PENDING.value)
                .values(status=EventStatus.RUNNING.value, holder=lease.holder, started_at=at)
            )
        return updated.rowcount == 1

    def finish_webhook_event(
        self, delivery_id: str, *, status: EventStatus, at: datetime, detail: str, run_id: str | None = None
    ) -> bool:
        """Record how the run of a claimed event ended (PENDING puts it back, e.g. the apply lock was busy)."""
        at = aware("at", at)
        c = t.webhook_events.c
        values: dict[str, Any] = {"status": EventStatus(status).value, "detail": detail[:2000], "run_id": run_id}
        values["finished_at"] = None if status is EventStatus.PENDING else at
        if status is EventStatus.PENDING:
            values["holder"] = None
        with self._write() as conn:
            updated = conn.execute(
                t.webhook_events.update()
                .where(c.delivery_id == delivery_id, c.status == EventStatus.RUNNING.value)
                .values(**values)
            )
        return updated.rowcount == 1

    def requeue_webhook_events(self, *, except_holder: str | None = None) -> list[str]:
        """Put the events left running (by holders other than `except_holder`) back to pending; their ids."""
        c = t.webhook_events.c
        query = select(c.delivery_id).where(c.status == EventStatus.RUNNING.value)
        if except_holder is not None:
            query = query.where(c.holder != except_holder)
        with self._write() as conn:
            ids = list(conn.execute(query).scalars())
            if ids:
                conn.execute(
                    t.webhook_events.update()
                    .where(c.delivery_id.in_(ids), c.status == EventStatus.RUNNING.value)
                    .values(status=EventStatus.PENDING.value, holder=None, started_at=None)
                )
        return ids


def _event(row: Row[Any]) -> WebhookEvent:
    return WebhookEvent(
        delivery_id=row.delivery_id,
        event=row.event,
        action=row.action,
        repo=row.repo,
        ref=row.ref,
        version=row.version,
        stage=row.stage,
        status=EventStatus(row.status),
        received_at=row.received_at,
        occurred_at=row.occurred_at,
        due_at=row.due_at,
        holder=row.holder,
        started_at=row.started_at,
        finished_at=row.finished_at,
        run_id=row.run_id,
        detail=row.detail,
    )
