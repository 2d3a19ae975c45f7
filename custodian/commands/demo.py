"""`release-custodian demo`: the whole story on the built-in sandbox, with nothing to configure.

Starts the emulators seeded with a scenario (default `seed`), places the scenario's holds, then runs
an audit, an `enforce --apply` and a second audit against the sandbox, and prints what changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from custodian.commands.common import findings_table
from custodian.commands.runs import print_outcome
from custodian.config import Config, ConfigError, LedgerConfig, ReportsConfig, format_duration, load_config
from custodian.config.notifications import Channels, Fallback, MailboxChannel, NotificationsConfig
from custodian.errors import BadInputError, ExitCode
from custodian.ledger.store import Ledger
from custodian.logs import configure
from custodian.model import ARM_TYPES, ActionOutcome, Finding, RunMode, Status
from custodian.progress import LogProgress
from custodian.reports.costs import cost_summary, has_costs
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
            "--apply (accounts revoked; leftovers and orphans marked; their owners told what will be deleted,\n"
            "when and how to keep it, in <out>/notices.mbox: never on a --config's own channels), the sandbox\n"
            "clock moved past the reaper's mark grace, a second enforce --apply (what is due is deleted and\n"
            "confirmed), and a final audit.\n"
            "Each step says in a few lines what was found, done and reclaimed, and what remains and why;\n"
            "the whole story of a step is in its report.html. Needs nothing but the README's set-up.\n"
            "The exit status is 1 when a step was incomplete (it says which and why), else 0.\n\n"
            "Your own story: --scenario FILE seeds the emulators from your scenario (see `release-custodian\n"
            "sandbox check FILE`), --config FILE runs your configuration against them (write it against the\n"
            "sandbox's ${VARS}, like custodian/sandbox/sandbox-config.yaml): the way to try a policy or rule\n"
            "change before it meets a real cloud.\n\n"
            "The output directory is the demo's own: its ledger is recreated on every run.\n\n"
            "examples:\n"
            "  release-custodian demo\n"
            "  release-custodian demo --out /tmp/demo --scenario my-story.yaml --config my-config.yaml"
        ),
    )
    demo.add_argument("--out", type=Path, default=Path(".demo"), help="output directory (default: .demo)")
    demo.add_argument("--scenario", default="seed", help="built-in scenario name or a YAML file (default: seed)")
    demo.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a configuration to run instead of the sandbox's (its ledger and reports go to --out)",
    )
    demo.add_argument(
        "--no-blobs",
        action="store_true",
        help="without Azurite (the blob emulator, from npm): the story of accounts and Azure resources only",
    )
    demo.add_argument("--log-format", choices=("text", "json"), default="text", help="progress log format")
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    try:
        from custodian.commands.sandbox_holds import place_scenario_holds  # imports this module
        from custodian.sandbox.azurite import AzuriteUnavailableError
        from custodian.sandbox.runtime import Sandbox
        from custodian.sandbox.scenario import ScenarioError, load_scenario
    except ImportError as exc:  # the emulators' own dependencies are the `sandbox` extra
        raise BadInputError(
            f"the sandbox needs its extra ({exc.name} is missing): pip install 'release-custodian[sandbox]'"
        ) from exc

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

    sandbox = Sandbox(scenario, workdir=out / "sandbox", with_azurite=not args.no_blobs)
    try:
        env = sandbox.start()
    except AzuriteUnavailableError as exc:
        raise BadInputError(f"{exc}") from exc
    try:
        os.environ.update(env.as_env())  # the sandbox config reads these ${VARS}
        try:
            config = load_config(args.config or SANDBOX_CONFIG)
        except ConfigError as exc:
            raise BadInputError("\n".join(exc.problems)) from exc
        updates: dict[str, object] = {
            "ledger": LedgerConfig(url=f"sqlite:///{(out / 'ledger' / 'ledger.sqlite').resolve()}"),
            "reports": ReportsConfig(directory=out / "reports"),
        }
        if args.no_blobs and config.reaper is not None:
            updates["reaper"] = config.reaper.model_copy(update={"storage_accounts": []})
        updates["notifications"] = demo_notifications(config, out)
        config = config.model_copy(update=updates)
        ledger = Ledger.open(config.ledger.url)
        try:
            place_scenario_holds(ledger, scenario, sandbox.clock.now(), config.holds.max_duration)
            if config.reaper is not None and config.reaper.storage_accounts:
                # Azurite stamps blobs with their upload time: start the story once the stale-blob age
                # has passed for every seeded blob, so each run finds the same (reproducible from run to run)
                sandbox.clock.advance(config.reaper.stale_blob_age + timedelta(seconds=1))
            steps = run_steps(console, config, ledger, sandbox.clock, progress)
            remaining = remaining_resources(sandbox, config)
        finally:
            ledger.close()
    finally:
        sandbox.stop()
    summarize(console, steps)
    console.print(remaining)
    incomplete = [(n, label, o) for n, (label, o) in enumerate(steps, start=1) if o.exit_code is ExitCode.INCOMPLETE]
    for number, label, outcome in incomplete:
        reasons = "; ".join(outcome.result.incomplete[:3]) or "see its report"
        console.print(f"[bold magenta]step {number} ({label.split(':')[0]}) was incomplete:[/] {reasons}")
    return ExitCode.INCOMPLETE if incomplete else ExitCode.OK


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
    for column in ("type", "name", "subscription", "version", "stage"):
        table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=48 if column == "name" else 14)
    table.add_column("note", overflow="fold", min_width=24)
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
                    ARM_TYPES[kind.lower()].label,
                    str(resource.get("name")),
                    str(resource.get("id", "")).split("/")[2][:8],
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
        for line in narrate(outcome):
            console.print(line, highlight=False)
        print_outcome(console, outcome, quiet=True)
        steps.append((label, outcome))
    return steps


def demo_notifications(config: Config, out: Path) -> NotificationsConfig:
    """Owners are told in an mbox file (`<out>/notices.mbox`), never on a real channel: a `--config`'s
    own notification settings (notify_before, owner tags, fallback, templates) are kept, its channels not."""
    mailbox = Channels(mailbox=MailboxChannel(path=out / "notices.mbox"))
    if config.notifications is not None:
        return config.notifications.model_copy(update={"channels": mailbox})
    fallback = Fallback(default="release-managers@example.com", orgs={config.github.org: "platform-team@example.com"})
    return NotificationsConfig(fallback=fallback, channels=mailbox)


def notice_lines(outcome: RunOutcome, limit: int = 4) -> list[str]:
    """Who was told what (or would be, or could not be), between the mark and the deletion."""
    if outcome.notices is None:
        return []
    lines = []
    deliveries = outcome.notices.deliveries
    for delivery in deliveries[:limit]:
        notices = delivery.batch.notices
        verb = {"sent": "told", "planned": "would tell"}.get(delivery.status.value, f"{delivery.status.value}:")
        lines.append(
            f"{verb} {delivery.batch.owner} ({delivery.channel}): {len(notices)} object(s) to be deleted, "
            f"the first not before {notices[0].delete_at:%Y-%m-%d %H:%M} UTC"
        )
    if len(deliveries) > limit:
        lines.append(f"... and {len(deliveries) - limit} more notice message(s)")
    boxes = sorted({d.detail for d in deliveries if d.channel == "mailbox" and d.status.value == "sent"})
    if boxes:
        lines.append(f"the notices, as the owners read them: {', '.join(b.removeprefix('mbox ') for b in boxes)}")
    waiting = sum(1 for f in outcome.result.findings if "has not been notified" in f.message)
    if waiting:
        lines.append(f"waiting for their notice before deletion: {waiting}")
    return lines


def narrate(outcome: RunOutcome) -> list[str]:
    """What a step found, did, reclaimed, and what remains and why, in a few lines."""
    result = outcome.result
    by_status: dict[Status, list[Finding]] = {}
    for finding in result.findings:
        by_status.setdefault(finding.status, []).append(finding)
    lines = []
    failing = by_status.get(Status.FAIL, [])
    fixed = by_status.get(Status.FIXED, [])
    found_all = failing + fixed
    if found_all:
        rules = Counter(f.rule for f in found_all)
        lines.append(f"found {len(found_all)} violation(s): " + ", ".join(f"{n} {r}" for r, n in sorted(rules.items())))
    done = Counter(r.action.kind.value for r in result.actions if r.outcome is ActionOutcome.DONE)
    if done:
        lines.append("done, each confirmed by a re-read: " + ", ".join(f"{n} {k}" for k, n in sorted(done.items())))
    if fixed:
        lines.append(f"fixed by this run: {len(fixed)}; still failing: {len(failing)}")
    marked = [f for f in failing if "marked: deletion due" in f.message]
    if marked:
        lines.append(f"marked for deletion, due after the grace: {len(marked)}")
    found, reclaimed = _waste(outcome)
    if found != "-":
        lines.append(f"waste found {found}/month, reclaimed {reclaimed}/month")
    held = by_status.get(Status.HELD, [])
    if held:
        names = sorted({f.subject.logical_name or f.subject.provider_name for f in held})
        lines.append(f"held, kept on purpose: {', '.join(names[:6])}" + (" ..." if len(names) > 6 else ""))
    report_only = [f for f in by_status.get(Status.WARN, []) if "report only" in f.message.lower()]
    if report_only:
        names = sorted({f"{f.subject.provider_name} ({f.rule})" for f in report_only})
        lines.append(f"report only, a person decides: {', '.join(names[:4])}" + (" ..." if len(names) > 4 else ""))
    if not failing and not result.incomplete:
        lines.append("nothing is failing")
    lines += notice_lines(outcome)
    lines.append(f"the whole story: {outcome.reports.report_html}")
    return lines


def _count(outcome: RunOutcome, status: Status, rules: tuple[str, ...] | None = None) -> int:
    return sum(1 for f in outcome.result.findings if f.status is status and (rules is None or f.rule in rules))


def summarize(console: Console, steps: list[tuple[str, RunOutcome]]) -> None:
    console.rule("summary")
    table = Table(show_header=True, header_style="bold")
    for column in ("run", "FAIL", "FIXED", "WARN", "HELD", "ERROR", "actions done", "waste found/mo", "reclaimed/mo"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for label, outcome in steps:
        done = sum(1 for r in outcome.result.actions if r.outcome.value == "done")
        found, reclaimed = _waste(outcome)
        table.add_row(
            label.split(":")[0],
            str(_count(outcome, Status.FAIL)),
            str(_count(outcome, Status.FIXED)),
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
    """Monthly cost of what a run found (FAIL, or FIXED by it) and of what it confirmed deleted."""
    if not has_costs(outcome.result):
        return "-", "-"
    summary = cost_summary(outcome.result)
    currency = f" {summary.currency}" if summary.currency else ""
    return f"{summary.totals.found:,.2f}{currency}", f"{summary.totals.reclaimed:,.2f}{currency}"
