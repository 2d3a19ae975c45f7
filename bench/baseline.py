"""The plain Cloud Custodian side of `python -m bench`, and the check that both sides decide alike.

`run_plain_c7n` runs `bench/plain_c7n/orphans.yml` (O1-O5, O5 with the `instance-view` filter) the
way a plain c7n user does: one `custodian run` per subscription, sequentially, each in its own
process (c7n's CLI through `custodian.collect.c7n.launcher`, which points c7n-azure at the sandbox's
ARM endpoint and nothing else), with c7n's cache off. It returns the (rule, resource id) decisions,
the wall time and the peak RSS of the children (`os.wait4`).

`compare_decisions` names every resource the two sides decide differently; `python -m bench` exits
non-zero with that message when there is any.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

POLICIES = Path(__file__).resolve().parent / "plain_c7n" / "orphans.yml"
RULE_OF = {"o1-disk": "O1", "o2-nic": "O2", "o3-pip": "O3", "o4-nsg": "O4", "o5-vm": "O5"}


class DecisionsDiffer(AssertionError):
    """Ours and plain c7n select different resources for the same rule."""


@dataclass
class PlainResult:
    decisions: set[tuple[str, str]] = field(default_factory=set)
    seconds: float = 0.0
    processes: int = 0
    rss_children_kib: int = 0
    problems: list[str] = field(default_factory=list)


def _c7n_env(env: Mapping[str, str], subscription: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "REQUESTS_CA"))}
    out.update(
        AZURE_ACCESS_TOKEN=env["AZURE_ACCESS_TOKEN"],
        AZURE_SUBSCRIPTION_ID=subscription,
        REQUESTS_CA_BUNDLE=env["REQUESTS_CA_BUNDLE"],
    )
    return out


def run_plain_c7n(
    env: Mapping[str, str], subscriptions: Iterable[str], out_dir: Path, timeout_s: float = 1800
) -> PlainResult:
    result = PlainResult()
    started = time.perf_counter()
    for subscription in subscriptions:
        output = out_dir / subscription
        output.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "custodian.collect.c7n.launcher",
            "--arm-endpoint",
            env["AZURE_ARM_ENDPOINT"],
            "--",
            "run",
            "-s",
            str(output),
            "--cache-period",
            "0",
            str(POLICIES),
        ]
        log = (output / "c7n.log").open("w", encoding="utf-8")
        with log:
            process = subprocess.Popen(command, env=_c7n_env(env, subscription), stdout=log, stderr=log, cwd=output)
            deadline = time.monotonic() + timeout_s
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    process.kill()
                    pid, status, usage = os.wait4(process.pid, 0)
                    result.problems.append(f"c7n for {subscription} timed out after {timeout_s:g}s")
                    break
                time.sleep(0.05)
            process.returncode = os.waitstatus_to_exitcode(status)
        result.processes += 1
        result.rss_children_kib = max(result.rss_children_kib, usage.ru_maxrss)
        if process.returncode != 0:
            tail = (output / "c7n.log").read_text(encoding="utf-8")[-2000:]
            result.problems.append(f"c7n for {subscription} exited {process.returncode}: {tail}")
        for policy, rule in RULE_OF.items():
            path = output / policy / "resources.json"
            if not path.exists():
                result.problems.append(f"c7n for {subscription}: no {policy}/resources.json")
                continue
            for resource in json.loads(path.read_text(encoding="utf-8")):
                result.decisions.add((rule, str(resource["id"]).lower()))
    result.seconds = time.perf_counter() - started
    return result


def compare_decisions(ours: set[tuple[str, str]], plain: set[tuple[str, str]]) -> list[str]:
    """One line per resource decided differently (empty when both sides agree)."""
    lines = [f"{rule} {rid}: ours selects it, plain c7n does not" for rule, rid in sorted(ours - plain)]
    lines += [f"{rule} {rid}: plain c7n selects it, ours does not" for rule, rid in sorted(plain - ours)]
    return lines


def check_decisions(ours: set[tuple[str, str]], plain: set[tuple[str, str]]) -> None:
    """Raise `DecisionsDiffer` naming the differing resources."""
    lines = compare_decisions(ours, plain)
    if lines:
        shown = "\n  ".join(lines[:50]) + (f"\n  ... and {len(lines) - 50} more" if len(lines) > 50 else "")
        raise DecisionsDiffer(f"ours and plain c7n decide {len(lines)} resource(s) differently:\n  {shown}")
