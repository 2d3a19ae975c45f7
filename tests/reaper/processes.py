"""Real `enforce --apply` processes against the reaper sandbox: a config file, the command, the log.

The sandbox (ARM and GitHub emulators) runs in the test process; each run is
`python -m custodian.cli enforce --apply --only reaper -c FILE` in a subprocess, as a scheduler
would start it, so it can be killed (SIGKILL) or raced by a second one. `ArmHook` wraps the ARM
emulator's dispatch so a test can act at an exact point of a run (e.g. kill it when its first
DELETE arrives) deterministically.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from custodian.commands.demo import SANDBOX_CONFIG
from custodian.sandbox.httpserver import EmulatorServer, Request, RequestRecord, Response
from tests.reaper.support import Reaper, due_mark

ROOT = Path(__file__).resolve().parents[2]
DUE = ("disk-legacy-export-01", "nic-orphan-01", "pip-orphan-01")  # orphans made due for deletion now
KILLED = "kill"  # the fault name of a request the hook answered after killing its sender (never carried out)


def write_config(reaper: Reaper, ledger_url: str, name: str = "config.yaml") -> Path:
    """The sandbox config (its `${VARS}` from the environment), with this test's ledger and reports."""
    data: dict[str, Any] = yaml.safe_load(SANDBOX_CONFIG.read_text(encoding="utf-8"))
    data["ledger"] = {"url": ledger_url}
    data["reports"] = {"directory": str(reaper.tmp / "reports")}
    data["reaper"]["storage_accounts"] = []
    path = reaper.tmp / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def make_due(reaper: Reaper, names: tuple[str, ...] = DUE) -> None:
    for name in names:
        reaper.set_tags(name, **{"custodian-reap": due_mark(reaper.now)})


@dataclass
class Child:
    """One `enforce --apply` process and the file its output goes to."""

    process: subprocess.Popen[str]
    log: Path

    def wait(self, timeout: float = 300) -> int:
        return self.process.wait(timeout=timeout)

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def enforce(config: Path, *extra: str, cwd: Path) -> Child:
    """`enforce --apply --only reaper` in a subprocess (its output to a file in `cwd`)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = cwd / f"enforce-{os.urandom(3).hex()}.log"
    argv = [sys.executable, "-m", "custodian.cli", "enforce", "--apply", "--only", "reaper", "-q", "-c", str(config)]
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen([*argv, *extra], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    return Child(process, log)


def resource_deletes(requests: list[RequestRecord]) -> Counter[str]:
    """DELETE requests the ARM emulator carried out, per resource path (lower case)."""
    return Counter(
        r.path.lower()
        for r in requests
        if r.method == "DELETE" and r.fault != KILLED and "/providers/microsoft.resources/tags" not in r.path.lower()
    )


def mutations_twice(requests: list[RequestRecord]) -> dict[str, int]:
    """Mutating requests (carried out) that reached one path more than once."""
    counts = Counter(
        (r.method, r.path.lower())
        for r in requests
        if r.method in ("PUT", "PATCH", "POST", "DELETE") and r.fault != KILLED
    )
    return {f"{m} {p}": n for (m, p), n in counts.items() if n > 1}


class ArmHook:
    """Wraps the ARM emulator's dispatch: `hook(request, handle)` decides what the request gets."""

    def __init__(self, server: EmulatorServer, hook: Callable[[Request, Callable[[Request], Response]], Response]):
        self._server = server
        self._original = server.dispatch
        self._hook = hook

    def __enter__(self) -> ArmHook:
        self._server.dispatch = lambda request: self._hook(request, self._original)  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.dispatch = self._original  # type: ignore[method-assign]
