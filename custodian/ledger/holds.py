"""The holds of `Ledger` (mixed in): placed and released by people, audited (every event journaled), expiring."""

from __future__ import annotations

import dataclasses
import secrets
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Connection, select

from custodian.ledger import schema as t
from custodian.ledger.rows import (
    HoldEvent,
    HoldEventKind,
    LedgerInputError,
    aware,
    checked_text,
    duration_text,
    hold_of_row,
    hold_target,
)
from custodian.model import Hold, HoldTarget

_HOLD_ID_ATTEMPTS: Final = 16


class HoldsLedger(ABC):
    """Hold methods of `Ledger`."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Connection]: ...

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]: ...

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
        checked = check_hold(target_type, target, reason, by, at, until, max_duration)
        with self._write() as conn:
            hold = dataclasses.replace(checked, hold_id=_new_hold_id(conn))
            conn.execute(
                t.holds.insert(),
                {
                    "id": hold.hold_id,
                    "target_type": hold.target_type.value,
                    "target": hold.target,
                    "reason": hold.reason,
                    "placed_by": hold.placed_by,
                    "placed_at": hold.placed_at,
                    "until": hold.until,
                },
            )
            _hold_event(conn, hold.hold_id, HoldEventKind.PLACED, hold.placed_by, hold.reason, hold.placed_at)
        return hold

    def release_hold(self, hold_id: str, by: str, reason: str, at: datetime) -> Hold:
        """Lift an unreleased hold; journals a `released` event. Returns the released hold."""
        by = checked_text("release by", by, 128)
        reason = checked_text("release reason", reason, None)
        when = aware("at", at)
        with self._write() as conn:
            row = conn.execute(select(t.holds).where(t.holds.c.id == hold_id).with_for_update()).first()
            if row is None:
                raise LedgerInputError(f"no hold {hold_id!r} in the ledger")
            hold = hold_of_row(row)
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
        return None if row is None else hold_of_row(row)

    def list_holds(self, include_inactive: bool, now: datetime) -> list[Hold]:
        """Holds active at `now` (as `Hold.active_at` says), or with `include_inactive` every hold."""
        query = select(t.holds).order_by(t.holds.c.placed_at, t.holds.c.id)
        if not include_inactive:
            instant = aware("now", now)
            query = query.where(
                t.holds.c.released_at.is_(None), t.holds.c.placed_at <= instant, t.holds.c.until > instant
            )
        with self._read() as conn:
            return [hold_of_row(row) for row in conn.execute(query)]

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


def check_hold(
    target_type: HoldTarget | str,
    target: str,
    reason: str,
    by: str,
    at: datetime,
    until: datetime,
    max_duration: timedelta,
) -> Hold:
    """The hold `place_hold` would place (its id still empty), or `LedgerInputError` saying why not.

    Writes nothing: a command checks what a person typed before it spends time looking the target up.
    """
    kind = hold_target(target_type)
    target = checked_text("hold target", target, 256)
    reason = checked_text("hold reason", reason, None)
    by = checked_text("hold placed_by (by)", by, 128)
    start = aware("at", at)
    end = aware("until", until)
    if max_duration <= timedelta(0):
        raise LedgerInputError(f"max_duration must be positive, got {duration_text(max_duration)}")
    if end <= start:
        raise LedgerInputError(f"hold until {end.isoformat()} must be after its start {start.isoformat()}")
    if end - start > max_duration:
        raise LedgerInputError(
            f"hold of {duration_text(end - start)} exceeds the maximum hold duration of {duration_text(max_duration)}"
        )
    return Hold("", kind, target, reason, by, start, end)


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
