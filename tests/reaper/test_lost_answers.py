"""An applied change whose answer is lost (the connection drops after ARM carried it out) is re-read
before it is journaled: the re-read shows the change, so it is DONE, never FAILED, and never sent twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from custodian.model import ActionKind, ActionOutcome, RunMode
from custodian.sandbox.faults import FaultPlan
from tests import reliability
from tests.reaper.support import reaper_sandbox

pytestmark = pytest.mark.slow


def test_a_mark_whose_answer_was_dropped_is_done_by_re_read(tmp_path: Path) -> None:
    with reaper_sandbox(tmp_path) as reaper:
        assert reaper.sandbox.arm_server is not None
        reaper.sandbox.arm_server.set_faults(FaultPlan(drop=1.0, methods=("PATCH",)))
        step = reaper.run("mark", RunMode.ENFORCE, apply=True)
        dropped = [r for r in step.requests if r.fault == "drop"]
        marks = [r for r in step.records if r.action.kind is ActionKind.MARK]
        twice, _ = reliability.record_requests("lost answers (PATCH dropped)", step.requests)
        done = {r.outcome for r in marks} == {ActionOutcome.DONE}
        reliability.record(
            "fault",
            fault="drop",
            where="ARM PATCH (marks)",
            injected=len(dropped),
            outcome="DONE by re-read" if done else "not all DONE",
            survived=done and twice == 0,
        )
        assert dropped and marks and len(dropped) == len(marks)
        assert {r.outcome for r in marks} == {ActionOutcome.DONE}
        assert all("confirmed by re-read (the call reported:" in r.detail for r in marks)
        assert max(Counter((r.method, r.path.lower()) for r in dropped).values()) == 1  # none sent twice
        journal = reaper.ledger.actions_for_run(step.outcome.result.run.run_id, journal=True)
        assert ActionOutcome.FAILED not in {r.outcome for r in journal}
