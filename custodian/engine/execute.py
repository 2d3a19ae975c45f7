"""One executor for every kind of action: intent with snapshot -> act -> poll -> confirm -> outcome.

For each action, in dependency order (an action runs only once everything in its `after` is
confirmed done; the long-running operations of a level of independent actions are polled
together, a change the call completed is confirmed before the next action):

1. re-read the target through its gateway; if the wanted state is already there (a crashed run got
   that far, somebody did it by hand) it is DONE without acting;
2. ask the gate again on the fresh state (a hold placed since, a mark changed), and the gateway
   what still blocks it (an attachment that is not gone, a dependent the plan did not approve);
3. call the fence (the apply lock's and the scheduler's lease checks: a run that lost either acts
   no more), journal the intent with the target's snapshot, act;
4. poll the operation the provider started until it ends (or `confirm_timeout_s`), then re-read:
   DONE when the re-read shows the change, UNCONFIRMED when it does not, FAILED when the provider
   refused (a failed call is re-read too: a response lost after the change took effect is DONE).

When the provider accepts a change it carries out later (a 202 and an operation to poll), the
journal says so at once (`journal_accepted`: a second intent entry, detail `accepted: ...`), so a run
killed while polling leaves a record that the request went out.

`resume` settles every intent a crashed run left without an outcome, of every kind, by re-reading
(and, for an operation still running, polling it), never by acting again; each gets an outcome. An
intent the provider had accepted is watched (re-read until the change shows, or `confirm_timeout_s`)
and, when it still does not show, not sent again by this run (UNCONFIRMED: the next run decides). A
bare intent (the run died before the answer came) is re-read for `settle_s` first, so a request
still in flight can land before the plan decides.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from custodian.engine.gate import Gate
from custodian.engine.holds import Target
from custodian.errors import describe_error
from custodian.model import Action, ActionOutcome, ActionRecord, AzureResource, Blob, ServiceAccount


class ActingRefused(Exception):
    """Raised by a fence: this run may take no further action (the message says why)."""


def fence_of(check: Callable[[], str | None], then: Callable[[], None] = lambda: None) -> Callable[[], None]:
    """A fence from a check (`check()` says why acting must stop, or None), followed by `then`."""

    def fence() -> None:
        reason = check()
        if reason is not None:
            raise ActingRefused(reason)
        then()

    return fence


@dataclass(frozen=True)
class OperationStatus:
    done: bool
    error: str | None = None
    retry_after_s: float | None = None


class Operation(Protocol):
    """A change the provider is still carrying out (an ARM long-running operation)."""

    def poll(self) -> OperationStatus: ...


class Gateway(Protocol):
    """How the executor reads and changes one kind of target."""

    def read(self, action: Action) -> Target | None:
        """The target as it is now; None when it no longer exists."""

    def satisfied(self, action: Action, target: Target | None) -> bool | None:
        """Whether `target` shows what `action` is meant to produce (None: no read can tell)."""

    def blocked(self, action: Action, target: Target) -> str | None:
        """What keeps `action` from being taken now, beyond the gate (e.g. an attachment still there)."""

    def in_progress(self, action: Action, target: Target) -> Operation | None:
        """The provider is already carrying `action` out (e.g. a resource being deleted): poll it."""

    def perform(self, action: Action, target: Target) -> Operation | None:
        """Act; return the operation to poll, or None when the call completed the change."""


class PendingIntent(Protocol):
    @property
    def run_id(self) -> str: ...

    @property
    def record(self) -> ActionRecord: ...


ACCEPTED = "accepted: "  # the detail of the intent entry journaled when the provider accepted the change


class Journal(Protocol):
    def journal_intent(self, run_id: str, action: Action, at: datetime, snapshot: Mapping[str, object]) -> int: ...

    def journal_accepted(self, run_id: str, action: Action, at: datetime, detail: str) -> int: ...

    def journal_outcome(
        self,
        run_id: str,
        action: Action,
        outcome: ActionOutcome,
        at: datetime,
        detail: str = "",
        snapshot: Mapping[str, object] | None = None,
    ) -> int: ...


def snapshot_of(target: Target) -> dict[str, object]:
    if isinstance(target, Blob):
        return target.snapshot()
    if isinstance(target, AzureResource | ServiceAccount):
        return dict(target.snapshot)
    return {}


def levels(actions: Sequence[Action]) -> list[list[Action]]:
    """Actions grouped so that each one comes after everything in its `after` (unknown keys ignored)."""
    by_key = {a.key: a for a in actions}
    depth: dict[str, int] = {}

    def level(key: str, seen: frozenset[str]) -> int:
        if key in depth:
            return depth[key]
        deps = [k for k in by_key[key].after if k in by_key and k not in seen]
        depth[key] = 1 + max((level(k, seen | {key}) for k in deps), default=-1)
        return depth[key]

    for action in actions:
        level(action.key, frozenset())
    out: list[list[Action]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
    for action in actions:
        out[depth[action.key]].append(action)
    return out


class _ReadWatch:
    """A change that should show on a re-read (an earlier run's request): done once it does."""

    def __init__(self, gateway: Gateway, action: Action) -> None:
        self._gateway = gateway
        self._action = action

    def poll(self) -> OperationStatus:
        target = self._gateway.read(self._action)
        return OperationStatus(bool(self._gateway.satisfied(self._action, target)), retry_after_s=1.0)


@dataclass
class _Started:
    action: Action
    gateway: Gateway
    operation: Operation | None
    snapshot: dict[str, object]
    error: str | None = None
    prefix: str = ""


@dataclass
class Executor:
    run_id: str
    journal: Journal
    gateway_for: Callable[[Action], Gateway]
    gate: Gate
    clock: Callable[[], datetime]
    fence: Callable[[], None] = lambda: None
    confirm_timeout_s: float = 300.0
    poll_cap_s: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    on_record: Callable[[ActionRecord], None] | None = None
    settle_s: float = 3.0
    records: list[ActionRecord] = field(default_factory=list)
    #: keys whose earlier, accepted request is still running: never sent again by this run
    watched: set[str] = field(default_factory=set)

    # -- journal ---------------------------------------------------------------------------------
    def _record(
        self, action: Action, outcome: ActionOutcome, detail: str, snapshot: Mapping[str, object] | None = None
    ) -> ActionRecord:
        at = self.clock()
        self.journal.journal_outcome(self.run_id, action, outcome, at, detail, snapshot)
        record = ActionRecord(action, outcome, at, detail, dict(snapshot or {}))
        self.records.append(record)
        if self.on_record is not None:
            self.on_record(record)
        return record

    # -- resume ----------------------------------------------------------------------------------
    def resume(self, pending: Iterable[PendingIntent]) -> list[ActionRecord]:
        """Settle intents of crashed runs by re-reading (polling what is still running); never act again."""
        settled: list[ActionRecord] = []
        for entry in pending:
            action = entry.record.action
            accepted = entry.record.detail.startswith(ACCEPTED)
            why = ""
            origin = f"taken by crashed run {entry.run_id}" + (" (accepted by the provider)" if accepted else "")
            try:
                gateway = self.gateway_for(action)
                target = gateway.read(action)
                ok = gateway.satisfied(action, target)
                if ok is False and target is not None:
                    operation = gateway.in_progress(action, target)  # e.g. `Deleting`: under way, watched in full
                    timeout = self.confirm_timeout_s
                    if operation is None and (accepted or self.settle_s > 0):
                        operation = _ReadWatch(gateway, action)  # a request that went out (or may have)
                        timeout = self.confirm_timeout_s if accepted else min(self.settle_s, self.confirm_timeout_s)
                    if operation is not None:
                        error = self._wait([_Started(action, gateway, operation, {})], timeout)
                        target = gateway.read(action)
                        ok = gateway.satisfied(action, target) or (False if error else ok)
                        if not ok and target is not None and gateway.in_progress(action, target) is not None:
                            accepted = True  # still running: this run does not send it again
                        why = f" ({error})" if error else ""
            except Exception as exc:  # noqa: BLE001 - journaled: the current plan decides what to do
                settled.append(
                    self._record(action, ActionOutcome.UNCONFIRMED, f"{origin}; re-read failed: {describe_error(exc)}")
                )
                continue
            if ok is None:
                settled.append(
                    self._record(action, ActionOutcome.DONE, f"{origin}; the provider offers no read to confirm it")
                )
            elif ok:
                settled.append(self._record(action, ActionOutcome.DONE, f"{origin}; confirmed by re-read"))
            elif accepted:
                self.watched.add(action.key)
                detail = f"{origin}; still under way{why}: watched, not sent again"
                settled.append(self._record(action, ActionOutcome.UNCONFIRMED, detail))
            else:
                detail = f"{origin}; not in effect (this run's plan decides what to do)"
                settled.append(self._record(action, ActionOutcome.UNCONFIRMED, detail))
        return settled

    # -- run -------------------------------------------------------------------------------------
    def run(self, actions: Sequence[Action]) -> list[ActionRecord]:
        done: set[str] = set()
        stop: str | None = None
        start = len(self.records)
        for level in levels(actions):
            started: list[_Started] = []
            for action in level:
                if stop is not None:
                    self._record(action, ActionOutcome.SKIPPED, stop)
                    continue
                waiting = [k for k in action.after if k not in done]
                if waiting:
                    self._record(action, ActionOutcome.SKIPPED, f"kept for now: waiting for {', '.join(waiting)}")
                    continue
                try:
                    one = self._start(action)
                except ActingRefused as exc:
                    stop = f"not taken: {exc}"
                    self._record(action, ActionOutcome.SKIPPED, stop)
                    continue
                if one is None:
                    continue
                if one.operation is None:
                    self._finish([one])  # a change the call completed: confirm it before the next one
                else:
                    started.append(one)  # long-running: polled with the others of its level
            self._finish(started)
            for record in self.records[start:]:
                if record.outcome is ActionOutcome.DONE:
                    done.add(record.action.key)
        return self.records[start:]

    def _start(self, action: Action) -> _Started | None:
        try:
            gateway = self.gateway_for(action)
            target = gateway.read(action)
        except Exception as exc:  # noqa: BLE001 - journaled as a failed action and reported
            self._record(action, ActionOutcome.FAILED, f"re-read before acting failed: {describe_error(exc)}")
            return None
        if gateway.satisfied(action, target):
            detail = "already gone" if target is None else "already in the wanted state; nothing to do"
            self._record(action, ActionOutcome.DONE, detail)
            return None
        if target is None:
            self._record(action, ActionOutcome.SKIPPED, "the target no longer exists")
            return None
        if action.key in self.watched:
            detail = "an earlier run's request for it was accepted and is still running: watched, not sent again"
            self._record(action, ActionOutcome.UNCONFIRMED, detail, snapshot_of(target))
            return None
        running = gateway.in_progress(action, target)
        if running is not None:
            return _Started(action, gateway, running, snapshot_of(target), prefix="already in progress; ")
        decision = self.gate.check(action, target)
        why = decision.detail if decision is not None else gateway.blocked(action, target)
        if why is not None:
            self._record(action, ActionOutcome.SKIPPED, f"not taken: {why}", snapshot_of(target))
            return None
        self.fence()
        snapshot = snapshot_of(target)
        self.journal.journal_intent(self.run_id, action, self.clock(), snapshot)
        try:
            operation = gateway.perform(action, target)
        except Exception as exc:  # noqa: BLE001 - the change may still have happened: the re-read decides
            return _Started(action, gateway, None, snapshot, error=describe_error(exc))
        if operation is not None:  # on record at once: a run killed while polling must not send it again
            self.journal.journal_accepted(self.run_id, action, self.clock(), ACCEPTED + "the operation is running")
        return _Started(action, gateway, operation, snapshot)

    def _wait(self, started: Sequence[_Started], timeout_s: float | None = None) -> str | None:
        """Poll every operation until it ends or the deadline passes; errors land on each item."""
        timeout_s = self.confirm_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        pending = [s for s in started if s.operation is not None and s.error is None]
        while pending:
            delay = 0.0
            still = []
            for item in pending:
                assert item.operation is not None
                try:
                    status = item.operation.poll()
                except Exception as exc:  # noqa: BLE001 - the re-read decides
                    item.error = f"polling failed: {describe_error(exc)}"
                    continue
                if status.done:
                    item.error = status.error
                else:
                    delay = max(delay, status.retry_after_s or 1.0)
                    still.append(item)
            pending = still
            if not pending:
                break
            if time.monotonic() + min(delay, self.poll_cap_s) > deadline:
                for item in pending:
                    item.error = f"its operation is still in progress after {timeout_s:g}s"
                break
            self.sleep(min(delay, self.poll_cap_s))
        errors = [s.error for s in started if s.error]
        return errors[0] if errors else None

    def _finish(self, started: Sequence[_Started]) -> None:
        self._wait(started)
        for item in started:
            action = item.action
            try:
                after = item.gateway.read(action)
                ok = item.gateway.satisfied(action, after)
            except Exception as exc:  # noqa: BLE001
                self._record(
                    action,
                    ActionOutcome.UNCONFIRMED,
                    f"re-read after acting failed: {describe_error(exc)}",
                    item.snapshot,
                )
                continue
            if ok is None:
                detail = "accepted by the provider; it offers no read to confirm this step"
                self._record(
                    action,
                    ActionOutcome.DONE if item.error is None else ActionOutcome.FAILED,
                    detail if item.error is None else item.error,
                    item.snapshot,
                )
            elif ok:
                detail = "confirmed by re-read" + (f" (the call reported: {item.error})" if item.error else "")
                self._record(action, ActionOutcome.DONE, item.prefix + detail, item.snapshot)
            elif item.error is not None and item.operation is None:
                self._record(action, ActionOutcome.FAILED, item.error, item.snapshot)
            else:
                why = item.error or "the re-read does not show the change yet"
                self._record(action, ActionOutcome.UNCONFIRMED, item.prefix + why, item.snapshot)
