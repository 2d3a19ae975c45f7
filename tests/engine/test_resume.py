"""The executor's resume: an accepted request is watched and never sent again; a bare intent is
re-read for a moment, then left to the plan (which acts once); crashed runs are closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from custodian import __version__
from custodian.engine.execute import ACCEPTED, Executor, Operation
from custodian.engine.gate import Gate, GateContext
from custodian.engine.holds import HoldIndex, Target
from custodian.ledger.store import Ledger
from custodian.model import (
    AccountKind,
    Action,
    ActionKind,
    ActionOutcome,
    Provider,
    ResourceKind,
    RunInfo,
    RunMode,
    Scope,
    ServiceAccount,
    Subject,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SCOPE = Scope.github("test")


def _action(name: str) -> Action:
    subject = Subject("github", "gh-sa", name, scope="github:test")
    return Action(ActionKind.DELETE_ACCOUNT, subject, "L3", "test", SCOPE, ResourceKind.GITHUB_ACCOUNT, f"gh|{name}")


def _gate() -> Gate:
    holds = HoldIndex.build([], NOW, hold_tag=None, version_tag_key="v", stage_tag_key="s", known_versions=())
    return Gate(
        GateContext(NOW, frozenset({SCOPE}), frozenset(), True, holds, frozenset(), "prod", "v", "s", frozenset())
    )


class Accounts:
    """Accounts that exist until deleted; a deletion takes `reads_until_gone` reads to show."""

    def __init__(self, reads_until_gone: int | None) -> None:
        self.reads_until_gone = reads_until_gone  # None: an earlier delete never lands
        self.reads = 0
        self.performed: list[str] = []

    def read(self, action: Action) -> Target | None:
        self.reads += 1
        if self.reads_until_gone is not None and self.reads > self.reads_until_gone:
            return None
        name = action.subject.provider_name
        return ServiceAccount(Provider.GITHUB, AccountKind.GH, name, unit="github:test", scope=SCOPE, enabled=True)

    def satisfied(self, action: Action, target: Target | None) -> bool | None:
        return target is None

    def blocked(self, action: Action, target: Target) -> str | None:
        return None

    def in_progress(self, action: Action, target: Target) -> Operation | None:
        return None

    def perform(self, action: Action, target: Target) -> Operation | None:
        self.performed.append(action.key)
        self.reads_until_gone = self.reads  # gone at the next read
        return None


def _crashed(ledger: Ledger, action: Action, *, accepted: bool) -> None:
    ledger.start_run(RunInfo("crashed-run", NOW - timedelta(hours=1), None, RunMode.ENFORCE, True, "", __version__))
    ledger.journal_intent("crashed-run", action, NOW - timedelta(hours=1), {})
    if accepted:
        ledger.journal_accepted("crashed-run", action, NOW - timedelta(hours=1), ACCEPTED + "the operation is running")


def _executor(ledger: Ledger, gateway: Accounts, timeout: float = 0.3) -> Executor:
    ledger.start_run(RunInfo("rerun", NOW, None, RunMode.ENFORCE, True, "", __version__))
    return Executor(
        "rerun",
        ledger,
        lambda a: gateway,
        _gate(),
        lambda: NOW,
        confirm_timeout_s=timeout,
        poll_cap_s=0.01,
        settle_s=0.05,
        sleep=lambda s: None,
    )


def test_an_accepted_delete_that_still_shows_is_watched_and_never_sent_again(tmp_path: Path) -> None:
    action = _action("slow-to-go")
    with Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        _crashed(ledger, action, accepted=True)
        gateway = Accounts(reads_until_gone=None)
        executor = _executor(ledger, gateway)
        [settled] = executor.resume(ledger.pending_intents())
        assert settled.outcome is ActionOutcome.UNCONFIRMED and "still under way" in settled.detail
        assert "watched, not sent again" in settled.detail
        [again] = executor.run([action])
        assert again.outcome is ActionOutcome.UNCONFIRMED and "not sent again" in again.detail
        assert gateway.performed == []
        assert ledger.pending_intents() == []


def test_an_accepted_delete_that_lands_while_watched_is_done(tmp_path: Path) -> None:
    action = _action("going")
    with Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        _crashed(ledger, action, accepted=True)
        gateway = Accounts(reads_until_gone=3)
        executor = _executor(ledger, gateway, timeout=30)
        [settled] = executor.resume(ledger.pending_intents())
        assert settled.outcome is ActionOutcome.DONE and "accepted by the provider" in settled.detail
        [again] = executor.run([action])
        assert again.outcome is ActionOutcome.DONE and gateway.performed == []


def test_a_bare_intent_is_re_read_then_left_to_the_plan_which_acts_once(tmp_path: Path) -> None:
    action = _action("never-sent")
    with Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}") as ledger:
        _crashed(ledger, action, accepted=False)
        gateway = Accounts(reads_until_gone=None)
        executor = _executor(ledger, gateway)
        [settled] = executor.resume(ledger.pending_intents())
        assert settled.outcome is ActionOutcome.UNCONFIRMED and "plan decides" in settled.detail
        [acted] = executor.run([action])
        assert acted.outcome is ActionOutcome.DONE and gateway.performed == [action.key]
