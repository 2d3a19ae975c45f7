"""`release-custodian demo`: the whole story on the built-in sandbox, with nothing to configure.

Starts the emulators seeded with a scenario (default `seed`), places the scenario's holds, then runs
an audit, an `enforce --apply` and a second audit against the sandbox, and prints what changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from custodian.commands.common import findings_table
from custodian.commands.runs import print_outcome
from custodian.config import Config, ConfigError, LedgerConfig, ReportsConfig, format_duration, load_config
from custodian.errors import BadInputError, ExitCode
from custodian.ledger.store import Ledger
from custodian.logs import configure
from custodian.model import ActionKind, ActionOutcome, HoldTarget, RunMode, Status
from custodian.progress import LogProgress
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from custodian.sandbox.clock import SandboxClock

if TYPE_CHECKING:
    from custodian.sandbox.runtime import Sandbox

SANDBOX_CONFIG = Path(__file__).resolve().parents[1] / "sandbox" / "sandbox-config.yaml"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="the whole story on the built-in sandbox: audit, enforce --apply (twice with the reaper), audit",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Starts the local GitHub, ARM and Azurite emulators seeded with the scenario, places its holds,\n"
            "then runs: an audit (the seeded violations, leftovers and orphans with their costs), an enforce\n"
            "--apply (accounts fixed; leftovers and orphans marked), the sandbox clock moved past the reaper's\n"
            "mark grace, a second enforce --apply (what is due is deleted and confirmed), and a final audit.\n"
            "Prints a summary and the report paths. Needs nothing but the README's set-up.\n\n"
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
    out: Path = args.out.resolve()  # absolute: c7n runs in another working directory
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
            steps = run_steps(console, config, ledger, sandbox.clock, progress)
            remaining = remaining_resources(sandbox, config)
        finally:
            ledger.close()
    finally:
        sandbox.stop()
    summarize(console, steps)
    console.print(remaining)
    return ExitCode.OK


REAPED_TYPES = (
    "Microsoft.Compute/virtualMachines",
    "Microsoft.Compute/disks",
    "Microsoft.Network/networkInterfaces",
    "Microsoft.Network/publicIPAddresses",
    "Microsoft.Network/networkSecurityGroups",
)


def remaining_resources(sandbox: Sandbox, config: Config) -> Table:
    """What is still in the sandbox's ARM after the story: exclusions, held, not-yet-due and prod."""
    assert sandbox.arm is not None
    version_key, stage_key = config.naming.version_tag_key, config.naming.stage_tag_key
    hold_key = config.reaper.hold_tag if config.reaper else "custodian-hold"
    table = Table(title="Azure resources still in place after the demo", show_header=True, header_style="bold")
    for column in ("type", "name", "subscription", "version", "stage", "note"):
        table.add_column(column, overflow="fold")
    rows = []
    for kind in REAPED_TYPES:
        for resource in sandbox.arm.store.list(kind):
            tags = resource.get("tags") or {}
            props = resource.get("properties") or {}
            notes = []
            if hold_key in tags:
                notes.append(f"held: {tags[hold_key]}")
            if props.get("privateEndpoint"):
                notes.append("private endpoint NIC")
            if props.get("hostedWorkloads"):
                notes.append("hosted workload NIC")
            if resource.get("managedBy") or props.get("virtualMachine") or props.get("ipConfiguration"):
                notes.append("in use")
            rows.append(
                (
                    kind.split("/")[-1],
                    str(resource.get("name")),
                    str(resource.get("id", "")).split("/")[2][:8] + "…",
                    tags.get(version_key, ""),
                    tags.get(stage_key, ""),
                    ", ".join(notes),
                )
            )
    for row in sorted(rows):
        table.add_row(*row)
    return table


def run_steps(
    console: Console, config: Config, ledger: Ledger, clock: SandboxClock, progress: LogProgress
) -> list[tuple[str, RunOutcome]]:
    """audit; enforce --apply; (reaper: advance the sandbox clock past the mark grace; enforce --apply); audit."""
    plan: list[tuple[str, RunRequest, timedelta | None]] = [
        ("audit (read-only)", RunRequest(RunMode.AUDIT), None),
        (
            "enforce --apply" + (": fix accounts, mark leftovers and orphans" if config.reaper else ""),
            RunRequest(RunMode.ENFORCE, apply=True),
            None,
        ),
    ]
    if config.reaper is not None:
        grace = format_duration(config.reaper.mark_grace)
        label = f"enforce --apply once the {grace} mark grace has passed: delete what is due"
        plan.append((label, RunRequest(RunMode.ENFORCE, apply=True), config.reaper.mark_grace + timedelta(minutes=1)))
    plan.append(("audit again", RunRequest(RunMode.AUDIT), None))
    steps = []
    for number, (label, request, advance) in enumerate(plan, start=1):
        if advance is not None:
            clock.advance(advance)
        console.rule(f"{number}. {label}")
        outcome = run_lifecycle(config, request, ledger=ledger, clock=clock.now, progress=progress)
        print_outcome(console, outcome)
        steps.append((label, outcome))
    return steps


def _count(outcome: RunOutcome, status: Status, rules: tuple[str, ...] | None = None) -> int:
    return sum(1 for f in outcome.result.findings if f.status is status and (rules is None or f.rule in rules))


def summarize(console: Console, steps: list[tuple[str, RunOutcome]]) -> None:
    console.rule("summary")
    table = Table(show_header=True, header_style="bold")
    for column in ("run", "FAIL", "WARN", "HELD", "ERROR", "actions done", "waste found", "reclaimed"):
        table.add_column(column)
    for label, outcome in steps:
        done = sum(1 for r in outcome.result.actions if r.outcome.value == "done")
        found, reclaimed = _waste(outcome)
        table.add_row(
            label.split(":")[0],
            str(_count(outcome, Status.FAIL)),
            str(_count(outcome, Status.WARN)),
            str(_count(outcome, Status.HELD)),
            str(_count(outcome, Status.ERROR)),
            str(done) if outcome.plan is not None or outcome.result.actions else "-",
            found,
            reclaimed,
        )
    console.print(table)
    for label, outcome in steps:
        console.print(f"{label.split(':')[0]}: {outcome.reports.report_html}", highlight=False, soft_wrap=True)
    last = steps[-1][1]
    remaining = [f for f in last.result.findings if f.status in (Status.FAIL, Status.ERROR)]
    if remaining:
        console.print("still failing after enforce:")
        console.print(findings_table(remaining))
    held = sorted(
        {f.subject.logical_name or f.subject.provider_name for f in last.result.findings if f.status is Status.HELD}
    )
    console.print(f"held and untouched: {', '.join(held) or 'none'}", highlight=False)


def _waste(outcome: RunOutcome) -> tuple[str, str]:
    """Monthly cost of what a run found (FAIL) and of what it confirmed deleted."""
    deleted = {
        r.action.subject.resource_id
        for r in outcome.result.actions
        if r.action.kind is ActionKind.DELETE_RESOURCE and r.outcome is ActionOutcome.DONE
    }
    found = sum((f.cost.monthly for f in outcome.result.findings if f.cost and f.status is Status.FAIL), Decimal(0))
    reclaimed = sum(
        (f.cost.monthly for f in outcome.result.findings if f.cost and f.subject.resource_id in deleted), Decimal(0)
    )
    currency = next((f.cost.currency for f in outcome.result.findings if f.cost), "")
    return (f"{found} {currency}".strip() if currency else "-", f"{reclaimed} {currency}".strip() if currency else "-")
