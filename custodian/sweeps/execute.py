"""Executing a plan: journal the intent, act, re-read to confirm, journal the outcome.

Each action first re-reads its account: if the wanted state is already there (a previous, perhaps
crashed, run got that far) it is journaled as done without acting again. Errors on one action are
journaled and do not stop the others; nothing is retried blindly.

Before each destructive step the executor calls its `fence`: the scheduled service passes one that
raises `ActingRefused` when this replica no longer holds the leader lease at the epoch the run
started under, or when the service is stopping. The action in progress has then finished and been
journaled; this one and the rest are journaled SKIPPED with the reason, and nothing else is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from custodian.model import Action, ActionOutcome, ActionRecord, ServiceAccount
from custodian.sweeps.gateways import AccountGateway, UnverifiableAction, satisfied


class Journal(Protocol):
    def journal_intent(self, run_id: str, action: Action, at: datetime, snapshot: Mapping[str, object]) -> int: ...

    def journal_outcome(
        self,
        run_id: str,
        action: Action,
        outcome: ActionOutcome,
        at: datetime,
        detail: str = "",
        snapshot: Mapping[str, object] | None = None,
    ) -> int: ...


class ActingRefused(Exception):
    """Raised by a fence: this run may take no further destructive action (the message says why)."""


@dataclass
class Executor:
    run_id: str
    journal: Journal
    gateway_for: Callable[[Action], AccountGateway]
    now: Callable[[], datetime]
    fence: Callable[[], None] = lambda: None  # raises when this run may no longer act (HA lease lost)

    def run(
        self, actions: Iterable[Action], on_progress: Callable[[ActionRecord], None] | None = None
    ) -> list[ActionRecord]:
        records = []
        queue = list(actions)
        for index, action in enumerate(queue):
            refused = False
            try:
                done = [self._one(action)]
            except ActingRefused as exc:  # nothing of this action was done; neither the rest
                refused = True
                done = [self._record(left, ActionOutcome.SKIPPED, f"not taken: {exc}") for left in queue[index:]]
            for record in done:
                records.append(record)
                if on_progress is not None:
                    on_progress(record)
            if refused:
                break
        return records

    def resolve_pending(self, pending: Iterable[tuple[str, Action]]) -> list[ActionRecord]:
        """Settle intents a crashed run journaled without an outcome: re-read, never act again.

        If the re-read shows the wanted state the crashed run's action took effect (DONE); otherwise
        it is UNCONFIRMED and the current plan, built from a fresh inventory, decides what to do.
        """
        records = []
        for crashed_run, action in pending:
            try:
                after = self.gateway_for(action).refresh(action.subject.provider_name)
                ok = satisfied(action, after)
            except UnverifiableAction:
                ok = True
            except Exception as exc:  # noqa: BLE001 - journaled and reported
                records.append(self._record(action, ActionOutcome.UNCONFIRMED, f"crashed run {crashed_run}: {exc}"))
                continue
            detail = f"taken by crashed run {crashed_run}; " + ("confirmed by re-read" if ok else "not in effect")
            records.append(self._record(action, ActionOutcome.DONE if ok else ActionOutcome.UNCONFIRMED, detail))
        return records

    def _record(
        self, action: Action, outcome: ActionOutcome, detail: str, snapshot: dict[str, object] | None = None
    ) -> ActionRecord:
        at = self.now()
        self.journal.journal_outcome(self.run_id, action, outcome, at, detail, snapshot)
        return ActionRecord(action, outcome, at, detail, snapshot or {})

    def _one(self, action: Action) -> ActionRecord:
        gateway = self.gateway_for(action)
        try:
            before = gateway.refresh(action.subject.provider_name)
        except Exception as exc:  # noqa: BLE001 - journaled as a failed action and reported
            return self._record(action, ActionOutcome.FAILED, f"re-read before acting failed: {exc}")
        try:
            if satisfied(action, before):
                return self._record(action, ActionOutcome.DONE, "already in the wanted state; nothing to do")
        except UnverifiableAction:
            pass
        assert before is not None  # satisfied() is True for a vanished account
        snapshot = dict(before.snapshot)
        self.fence()
        self.journal.journal_intent(self.run_id, action, self.now(), snapshot)
        try:
            gateway.perform(action, before)
        except Exception as exc:  # noqa: BLE001 - journaled as a failed action and reported
            return self._record(action, ActionOutcome.FAILED, f"{type(exc).__name__}: {exc}", snapshot)
        return self._confirm(action, gateway, snapshot)

    def _confirm(self, action: Action, gateway: AccountGateway, snapshot: dict[str, object]) -> ActionRecord:
        try:
            after: ServiceAccount | None = gateway.refresh(action.subject.provider_name)
        except Exception as exc:  # noqa: BLE001
            return self._record(action, ActionOutcome.UNCONFIRMED, f"re-read after acting failed: {exc}", snapshot)
        try:
            ok = satisfied(action, after)
        except UnverifiableAction:
            return self._record(
                action, ActionOutcome.DONE, "accepted by the provider; it offers no read to confirm this step", snapshot
            )
        if ok:
            return self._record(action, ActionOutcome.DONE, "confirmed by re-read", snapshot)
        return self._record(action, ActionOutcome.UNCONFIRMED, "the re-read does not show the change yet", snapshot)
