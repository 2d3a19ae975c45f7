"""The action journal of `Ledger` (mixed in): intent before acting, outcome after, crash-resume reads.

Every entry keeps the action's plan (scope, target, not_before, after, params), so a resume can
re-read any kind of target; snapshots are redacted before they are stored. A change the provider
accepted and still carries out gets a second intent entry (`journal_accepted`), so a resume knows
the request went out. `close_crashed_runs` (called by an applied run holding the apply lock) closes
the applied runs that never finished: outcome `crashed`, `finished_at` set.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from custodian.ledger import schema as t
from custodian.ledger.redact import redact_mapping
from custodian.ledger.rows import (
    JournalEntry,
    LedgerInputError,
    aware,
    checked_text,
    journal_entry,
    jsonable,
    plan_json,
    require_run,
    subject_json,
)
from custodian.model import Action, ActionKind, ActionOutcome, ActionRecord


class JournalLedger(ABC):
    """Action-journal methods of `Ledger`."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Connection]: ...

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]: ...

    def journal_intent(self, run_id: str, action: Action, at: datetime, snapshot: Mapping[str, object]) -> int:
        """Journal the intent to act, BEFORE acting, with the object's (redacted) state; returns the entry id."""
        return self._journal(run_id, action, ActionOutcome.INTENT, at, "", snapshot)

    def journal_accepted(self, run_id: str, action: Action, at: datetime, detail: str) -> int:
        """Journal that the provider accepted the change and is carrying it out (still an open intent)."""
        return self._journal(run_id, action, ActionOutcome.INTENT, at, detail, {})

    def close_crashed_runs(self, at: datetime, *, current: str) -> list[str]:
        """Close every applied run but `current` that has no `finished_at` as `crashed`; their ids.

        Only safe while holding the apply lock: an applied run holds it for its whole length, so
        another unfinished applied run is one that died.
        """
        at = aware("at", at)
        runs = t.runs
        query = select(runs.c.id, runs.c.started_at).where(
            runs.c.finished_at.is_(None), runs.c.applied.is_(True), runs.c.id != current
        )
        closed: list[str] = []
        with self._write() as conn:
            for run_id, started_at in conn.execute(query).all():
                finished = max(at, aware("started_at", started_at))
                conn.execute(
                    runs.update()
                    .where(runs.c.id == run_id, runs.c.finished_at.is_(None))
                    .values(finished_at=finished, outcome="crashed")
                )
                closed.append(str(run_id))
        return closed

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
            query = query.where(t.action_journal.c.at >= aware("since", since))
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
            return [journal_entry(row) for row in conn.execute(query)]

    def actions_for_run(self, run_id: str, *, journal: bool = False) -> list[ActionRecord]:
        """The actions of a run: by default one record per action (its latest entry in that run), in
        the order they were first journaled; with `journal=True` every entry, intents included.
        """
        query = select(t.action_journal).where(t.action_journal.c.run_id == run_id).order_by(t.action_journal.c.id)
        with self._read() as conn:
            require_run(conn, run_id)
            entries = [journal_entry(row) for row in conn.execute(query)]
        if journal:
            return [entry.record for entry in entries]
        latest: dict[str, ActionRecord] = {}
        for entry in entries:
            latest[entry.record.action.key] = entry.record  # keeps the first position, takes the last value
        return list(latest.values())

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
            "action_key": checked_text("action key", action.key, 512),
            "kind": ActionKind(action.kind).value,
            "subject": subject_json(action.subject),
            "rule": checked_text("action rule", action.rule, 128),
            "reason": str(action.reason),
            "outcome": outcome.value,
            "at": aware("at", at),
            "detail": str(detail),
            "snapshot": jsonable(redact_mapping(snapshot), "snapshot"),
            "plan": plan_json(action),
        }
        with self._write() as conn:
            require_run(conn, run_id)
            entry_id = conn.execute(t.action_journal.insert().returning(t.action_journal.c.id), row).scalar_one()
        return int(entry_id)
