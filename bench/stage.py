"""One stage of `python -m bench` in its own process: a lifecycle run exactly as `release-custodian` runs it.

`python -m bench.stage --config FILE --mode audit|enforce [--apply] [--only reaper] --out OUT.json
[--profile PROFILE.txt]` loads the configuration with the CLI's loader, opens the ledger and calls
`run_lifecycle` with the wall clock (what `release-custodian audit` / `enforce` do), then writes to OUT:
the run's seconds, API calls by provider and method, GitHub budget, exit code, findings by rule and
status, the O1-O5 decisions (rule, resource id), actions by outcome, and peak RSS of this process
and of its c7n children (`getrusage`). With `--profile` the run is sampled by pyinstrument and its
text profile written to PROFILE.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ORPHAN_RULES = ("O1", "O2", "O3", "O4", "O5")
PROVIDER_OF_KIND = {"gh-sa": "github", "acr-sa": "acr", "blob": "azure-blob"}  # else: an ARM resource


def _now() -> datetime:
    return datetime.now(UTC)


def run_stage(config_path: Path, mode: str, apply: bool, only: str | None, profile: Path | None) -> dict[str, Any]:
    from custodian.config import load_config
    from custodian.ledger.store import Ledger
    from custodian.model import RunMode
    from custodian.run import ACCOUNTS, REAPER, RunRequest, run_lifecycle

    config = load_config(config_path)
    parts = frozenset({only}) if only else frozenset({ACCOUNTS, REAPER})
    request = RunRequest(RunMode(mode), apply=apply, parts=parts)
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    started = time.perf_counter()
    with Ledger.open(config.ledger.url) as ledger:
        outcome = run_lifecycle(config, request, ledger=ledger, clock=_now)
    seconds = time.perf_counter() - started
    if profiler is not None and profile is not None:
        profiler.stop()
        profile.write_text(profiler.output_text(unicode=False, color=False, show_all=False), encoding="utf-8")
    findings = Counter(f"{f.rule} {f.status.value}" for f in outcome.result.findings)
    decisions = sorted(
        {
            (rule, (f.subject.resource_id or f.subject.provider_name).lower())
            for f in outcome.result.findings
            for rule in (f.rule, *(f.evidence.get("also_matches") or "").split(","))
            if rule in ORPHAN_RULES
        }
    )
    actions = Counter(f"{record.action.kind.value} {record.outcome.value}" for record in outcome.result.actions)
    taken = [r for r in outcome.result.actions if r.outcome.value in ("done", "unconfirmed", "failed")]
    mutations = Counter(PROVIDER_OF_KIND.get(r.action.target_kind.value, "arm") for r in taken)
    return {
        "seconds": seconds,
        "mutations": dict(mutations),
        "exit_code": int(outcome.exit_code),
        "api_calls": outcome.api_calls,
        "github_budget": outcome.github_budget,
        "findings": dict(sorted(findings.items())),
        "decisions": decisions,
        "actions": dict(sorted(actions.items())),
        "incomplete": list(outcome.result.incomplete),
        "rss_self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stage")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--mode", choices=("audit", "enforce"), required=True)
    parser.add_argument("--apply", action="store_true")
    parser.add_argument("--only", choices=("accounts", "reaper"), default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run_stage(args.config, args.mode, args.apply, args.only, args.profile)
    args.out.write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
