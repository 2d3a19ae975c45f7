"""The notices of `Ledger` (mixed in): what was told to whom, on which channel, about which target.

A rerun asks `notices_sent` before sending, so a notice goes out once per channel and target; the
gate asks `first_notice_times` so a deletion waits until its owner was told `notify_before` earlier.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, func, select

from custodian.ledger import schema as t
from custodian.ledger.rows import aware, checked_text, require_run


class NoticeStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class NoticeRow:
    """One notice about one target, as journaled."""

    run_id: str
    channel: str
    owner: str
    target: str
    rule: str
    status: NoticeStatus
    due_at: datetime | None
    at: datetime
    detail: str


class NoticesLedger(ABC):
    """Notice methods of `Ledger`."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Connection]: ...

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]: ...

    def record_notices(self, notices: Iterable[NoticeRow]) -> None:
        """Journal notices (sent or failed) of one or more runs, in one transaction."""
        rows = list(notices)
        values = [
            {
                "run_id": checked_text("run_id", row.run_id, 64),
                "channel": checked_text("channel", row.channel, 32),
                "owner": checked_text("owner", row.owner, 256),
                "target": checked_text("target", row.target, 1024),
                "rule": checked_text("rule", row.rule, 16),
                "status": row.status.value,
                "due_at": aware("due_at", row.due_at) if row.due_at is not None else None,
                "at": aware("at", row.at),
                "detail": row.detail,  # channels never put a secret in it (custodian.notify.channels)
            }
            for row in rows
        ]
        if not values:
            return
        with self._write() as conn:
            for run_id in {row.run_id for row in rows}:
                require_run(conn, run_id)
            conn.execute(t.notices.insert(), values)

    def notices_sent(self, targets: Iterable[str]) -> set[tuple[str, str]]:
        """(channel, target) pairs of `targets` with a notice already sent."""
        wanted = sorted(set(targets))
        found: set[tuple[str, str]] = set()
        with self._read() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                query = select(t.notices.c.channel, t.notices.c.target).where(
                    t.notices.c.target.in_(chunk), t.notices.c.status == NoticeStatus.SENT.value
                )
                found.update((row.channel, row.target) for row in conn.execute(query))
        return found

    def first_notice_times(self) -> dict[str, datetime]:
        """For every target ever notified: when its first notice was sent (on any channel)."""
        query = (
            select(t.notices.c.target, func.min(t.notices.c.at).label("first"))
            .where(t.notices.c.status == NoticeStatus.SENT.value)
            .group_by(t.notices.c.target)
        )
        with self._read() as conn:
            return {row.target: row.first for row in conn.execute(query)}

    def notices_of_run(self, run_id: str) -> list[NoticeRow]:
        query = select(t.notices).where(t.notices.c.run_id == run_id).order_by(t.notices.c.id)
        with self._read() as conn:
            return [
                NoticeRow(
                    r.run_id, r.channel, r.owner, r.target, r.rule, NoticeStatus(r.status), r.due_at, r.at, r.detail
                )
                for r in conn.execute(query)
            ]
