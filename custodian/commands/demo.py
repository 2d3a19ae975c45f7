"""`release-custodian demo`: the whole story on the built-in sandbox, with nothing to configure.

Starts the emulators seeded with a scenario (default `seed`), places the scenario's holds, then runs
an audit, an `enforce --apply` and a second audit against the sandbox, and prints what changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from custodian.commands.common import findings_table
from custodian.commands.runs import print_outcome
from custodian.config import ConfigError, LedgerConfig, ReportsConfig, load_config
from custodian.errors import BadInputError, ExitCode
from custodian.ledger.store import Ledger
from custodian.logs import configure
from custodian.model import HoldTarget, RunMode, Status
from custodian.progress import LogProgress
from custodian.sweeps.lifecycle import RunOutcome, RunRequest, run_lifecycle

SANDBOX_CONFIG = Path(__file__).resolve().parents[1] / "sandbox" / "sandbox-config.yaml"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run audit, enforce --apply and a second audit on the built-in sandbox",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Starts the local GitHub, ARM and Azurite emulators seeded with the scenario, places its holds,\n"
            "then runs: an audit (the seeded violations), an enforce --apply on the sandbox, and a second\n"
            "audit. Prints a summary and the report paths. Needs nothing but the README's set-up.\n\n"
            "The output directory is the demo's own: its ledger is recreated on every run."
        ),
    )
    demo.add_argument("--out", type=Path, default=Path(".demo"), help="output directory (default: .demo)")
    demo.add_argument("--scenario", default="seed", help="built-in scenario name or a YAML file (default: seed)")
    demo.add_argument("--log-format", choices=("text", "json"), default="text", help="progress log format")
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from custodian.sandbox.azurite import AzuriteUnavailableError
    from custodian.sandbox.runtime import Sandbox
    from custodian.sandbox.scenario import ScenarioError, load_scenario, resolved_holds

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise BadInputError(str(exc)) from exc
    out: Path = args.out
    if out.exists() and not (out / ".release-custodian-demo").exists() and any(out.iterdir()):
        raise BadInputError(f"--out {out}: exists and is not a demo directory; choose an empty or new directory")
    shutil.rmtree(out / "ledger", ignore_errors=True)
    (out / "ledger").mkdir(parents=True, exist_ok=True)
    (out / ".release-custodian-demo").touch()
    progress = LogProgress(configure(args.log_format))

    sandbox = Sandbox(scenario, workdir=out / "sandbox")
    try:
        env = sandbox.start()
    except AzuriteUnavailableError as exc:
        raise BadInputError(f"{exc}") from exc
    try:
        os.environ.update(env.as_env())  # the sandbox config reads these ${VARS}
        try:
            config = load_config(SANDBOX_CONFIG)
        except ConfigError as exc:
            raise BadInputError("\n".join(exc.problems)) from exc
        config = config.model_copy(
            update={
                "ledger": LedgerConfig(url=f"sqlite:///{(out / 'ledger' / 'ledger.sqlite').resolve()}"),
                "reports": ReportsConfig(directory=out / "reports"),
            }
        )
        clock = sandbox.clock.now
        ledger = Ledger.open(config.ledger.url)
        try:
            for hold in resolved_holds(scenario, clock()):
                target_type = HoldTarget.VERSION if hold.version else HoldTarget.ACCOUNT
                target = hold.version or hold.account or ""
                ledger.place_hold(
                    target_type, target, hold.reason, hold.by, hold.placed_at, hold.until, config.holds.max_duration
                )
            console.rule("1. audit (read-only)")
            first = run_lifecycle(config, RunRequest(RunMode.AUDIT), ledger=ledger, clock=clock, progress=progress)
            print_outcome(console, first)
            console.rule("2. enforce --apply")
            applied = run_lifecycle(
                config, RunRequest(RunMode.ENFORCE, apply=True), ledger=ledger, clock=clock, progress=progress
            )
            print_outcome(console, applied)
            console.rule("3. audit again")
            second = run_lifecycle(config, RunRequest(RunMode.AUDIT), ledger=ledger, clock=clock, progress=progress)
            print_outcome(console, second)
        finally:
            ledger.close()
    finally:
        sandbox.stop()
    summarize(console, first, applied, second)
    return ExitCode.OK


def _count(outcome: RunOutcome, status: Status, rules: tuple[str, ...] | None = None) -> int:
    return sum(1 for f in outcome.result.findings if f.status is status and (rules is None or f.rule in rules))


def summarize(console: Console, first: RunOutcome, applied: RunOutcome, second: RunOutcome) -> None:
    console.rule("summary")
    table = Table(show_header=True, header_style="bold")
    for column in ("run", "FAIL L1-L3", "WARN", "HELD", "ERROR", "actions done"):
        table.add_column(column)
    for label, outcome in (("audit", first), ("enforce --apply", applied), ("audit again", second)):
        done = sum(1 for r in outcome.result.actions if r.outcome.value == "done")
        table.add_row(
            label,
            str(_count(outcome, Status.FAIL, ("L1", "L2", "L3"))),
            str(_count(outcome, Status.WARN)),
            str(_count(outcome, Status.HELD)),
            str(_count(outcome, Status.ERROR)),
            str(done) if outcome.plan is not None else "-",
        )
    console.print(table)
    for label, outcome in (("audit", first), ("enforce --apply", applied), ("audit again", second)):
        console.print(f"{label}: {outcome.reports.report_html}", highlight=False, soft_wrap=True)
    remaining = [f for f in second.result.findings if f.status in (Status.FAIL, Status.ERROR)]
    if remaining:
        console.print("still failing after enforce:")
        console.print(findings_table(remaining))
    held = sorted(
        {f.subject.logical_name or f.subject.provider_name for f in second.result.findings if f.status is Status.HELD}
    )
    console.print(f"held and untouched: {', '.join(held) or 'none'}", highlight=False)
