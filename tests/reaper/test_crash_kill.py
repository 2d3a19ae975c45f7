"""SIGKILL of an applied enforce at exact points of a DELETE; the rerun sends no DELETE twice.

Each trial: the reaper sandbox with three orphans due for deletion; `enforce --apply` in a
subprocess; an ARM emulator hook kills it (SIGKILL) at a chosen point of one DELETE; a rerun (a
new process) finishes the work. From the emulator's request log: every target received exactly
one DELETE that ARM carried out, the end state equals a fault-free run's, the killed run is closed
as `crashed` and no intent is left open. Kill points:

- `before-send`: the DELETE arrives, the run is killed, ARM never carries it out (the process died
  between its intent and its request);
- `answer-lost`: ARM carries the DELETE out (the resource turns `Deleting`), the run is killed
  before it reads the answer;
- `while-polling`: the run got its 202 (journaled as accepted) and is killed at its first poll of
  the operation;
- `while-polling-hidden`: as `while-polling`, but the resource shows no `Deleting` state (as some
  ARM types do): only the journal's accepted entry tells the rerun that the DELETE went out.

CI runs one trial per kill point. `RC_CRASH_TRIALS=N` runs N trials instead (kill points in turn,
the DELETE to kill at chosen by the trial number), e.g. `RC_CRASH_TRIALS=20` for the long run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custodian.engine.execute import ACCEPTED
from custodian.ledger.store import Ledger
from custodian.model import RunMode
from custodian.sandbox.httpserver import Request, Response, json_response
from tests import reliability
from tests.reaper.processes import DUE, KILLED, ArmHook, Child, enforce, make_due, resource_deletes, write_config
from tests.reaper.support import Reaper, reaper_sandbox

pytestmark = pytest.mark.slow
POINTS = ("before-send", "answer-lost", "while-polling", "while-polling-hidden")
TRIALS = int(os.environ.get("RC_CRASH_TRIALS", "0") or 0) or len(POINTS)


@dataclass(frozen=True)
class Outcome:
    remaining: frozenset[str]  # resource names left in the emulator
    deletes: dict[str, int]  # DELETEs ARM carried out, per resource path
    killed: bool
    log: str = ""  # the rerun's output and journal, for a failure's message


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """A fault-free applied run of the same setup."""
    tmp = tmp_path_factory.mktemp("fault-free")
    with reaper_sandbox(tmp) as reaper:
        make_due(reaper)
        config = write_config(reaper, reaper.config.ledger.url)
        assert reaper.sandbox.arm_server is not None
        reaper.sandbox.arm_server.clear_log()
        child = enforce(config, cwd=tmp)
        assert child.wait() in (0, 3), child.output
        deletes = resource_deletes(reaper.sandbox.arm_server.requests)
        remaining = frozenset(str(d["name"]) for d in reaper.store.list())
    assert len(deletes) == len(DUE) and not remaining & set(DUE)
    return Outcome(remaining, dict(deletes), killed=False)


Hook = Callable[[Request, Callable[[Request], Response]], Response]


def _kill_hook(point: str, victim: int, child: Callable[[], Child], reaper: Reaper, killed: threading.Event) -> Hook:
    state: dict[str, object] = {"deletes": 0}
    reaper_store = reaper.store
    arm = reaper.sandbox.arm
    assert arm is not None
    if point.startswith("while-polling"):
        arm.lro_polls_in_progress = 1000  # the victim's operation runs until the kill (then ages out)

    def journaled_accepted() -> bool:
        victim_path = str(state["victim"])
        return any(
            e.record.detail.startswith(ACCEPTED) and (e.record.action.subject.resource_id or "").lower() == victim_path
            for e in reaper.ledger.pending_intents()
        )

    def kill() -> None:
        process = child().process
        killed.set()  # first: the test thread's wait may return before this thread's
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        arm.lro_polls_in_progress = 1

    def hook(request: Request, handle: Callable[[Request], Response]) -> Response:
        if killed.is_set():
            return handle(request)
        path = request.path.lower()
        if request.method == "DELETE" and "/providers/microsoft.resources/tags" not in path:
            index = int(str(state["deletes"]))
            state["deletes"] = index + 1
            if index != victim:
                return handle(request)
            if point == "before-send":
                kill()
                response = json_response(503, {"error": {"code": "Killed", "message": "the client was killed"}})
                response.fault = KILLED  # never carried out: as if the request had not left the process
                return response
            response = handle(request)
            if point == "answer-lost":
                kill()
            elif point == "while-polling-hidden":
                _hide_deleting(reaper_store, request.path)
            state["victim"] = path
            return response
        if "victim" in state and request.method == "GET" and "operation" in path and journaled_accepted():
            kill()  # the run's first poll of an operation once the victim's 202 is journaled
        return handle(request)

    return hook


def _hide_deleting(store: object, path: str) -> None:
    with store.lock:  # type: ignore[attr-defined]
        doc = store.raw(path)  # type: ignore[attr-defined]
        if doc is not None:
            doc.setdefault("properties", {})["provisioningState"] = "Succeeded"


def _trial(tmp: Path, point: str, victim: int) -> Outcome:
    with reaper_sandbox(tmp) as reaper:
        make_due(reaper)
        url = reaper.config.ledger.url
        config = write_config(reaper, url)
        arm = reaper.sandbox.arm_server
        assert arm is not None
        arm.clear_log()
        killed = threading.Event()
        holder: list[Child] = []
        with ArmHook(arm, _kill_hook(point, victim, lambda: holder[0], reaper, killed)):
            holder.append(enforce(config, cwd=tmp))
            holder[0].wait()
        first = holder[0]
        assert killed.is_set(), first.output
        assert first.process.returncode == -signal.SIGKILL
        rerun = enforce(config, cwd=tmp)
        code = rerun.wait()
        assert code in (0, 1, 3) and "internal error" not in rerun.output, rerun.output
        with Ledger.open(url) as ledger:
            runs = ledger.list_runs()
            assert ledger.pending_intents() == []
            journal = [
                f"{r.info.run_id} {e.action.subject.provider_name} {e.outcome.value}: {e.detail}"
                for r in runs
                for e in ledger.actions_for_run(r.info.run_id, journal=True)
                if e.action.kind.value == "delete_resource"
            ]
        crashed = [r for r in runs if r.info.run_id != runs[0].info.run_id]
        assert [r.outcome for r in crashed] == ["crashed"], [(r.info.run_id, r.outcome) for r in runs]
        assert crashed[0].info.finished_at is not None and crashed[0].info.mode is RunMode.ENFORCE
        deletes = resource_deletes(arm.requests)
        remaining = frozenset(str(d["name"]) for d in reaper.store.list())
    return Outcome(remaining, dict(deletes), killed=True, log=rerun.output[-3000:] + "\n".join(journal))


def _trials() -> Iterator[tuple[int, str, int]]:
    for trial in range(TRIALS):
        yield trial, POINTS[trial % len(POINTS)], (trial // len(POINTS)) % len(DUE)


@pytest.mark.parametrize(("trial", "point", "victim"), list(_trials()))
def test_a_killed_applied_run_is_finished_by_the_next_without_a_second_delete(
    tmp_path: Path, reference: Outcome, trial: int, point: str, victim: int
) -> None:
    outcome = _trial(tmp_path, point, victim)
    twice = {path: n for path, n in outcome.deletes.items() if n != 1}
    wrong = len(set(outcome.deletes) - set(reference.deletes)) + len(reference.remaining - outcome.remaining)
    same = not twice and not wrong and outcome.remaining == reference.remaining
    reliability.record(
        "crash",
        trial=trial,
        seed=trial,
        point=point,
        victim=victim,
        deletes=sum(outcome.deletes.values()),
        twice=sum(n - 1 for n in twice.values()),
        wrong=wrong,
        outcome="converged" if same else "diverged",
    )
    assert twice == {}, f"trial {trial} ({point}): DELETEs carried out more than once: {twice}\n{outcome.log}"
    assert set(outcome.deletes) == set(reference.deletes), outcome.log
    assert outcome.remaining == reference.remaining, outcome.log


def _c7n_children(parent: int) -> list[int]:
    """Live processes started by `parent` that run the c7n launcher."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if stat[0] != "Z" and int(stat[1]) == parent and "custodian.collect.c7n.launcher" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_c7n_child_dies_with_its_killed_parent(tmp_path: Path) -> None:
    with reaper_sandbox(tmp_path) as reaper:
        config = write_config(reaper, reaper.config.ledger.url)
        child = enforce(config, cwd=tmp_path)
        try:
            children: list[int] = []
            for _ in range(600):
                children = _c7n_children(child.process.pid)
                if children or child.process.poll() is not None:
                    break
                time.sleep(0.05)
            assert children, child.output
            os.kill(child.process.pid, signal.SIGKILL)
            child.wait()
            deadline = time.monotonic() + 5
            while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not [pid for pid in children if _alive(pid)], "a c7n child outlived its killed parent"
        finally:
            if child.process.poll() is None:
                child.process.kill()
