"""`release-custodian audit` and `enforce`: one lifecycle run, its summary, report paths and exit code."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from custodian.commands.common import (
    config_parent,
    load,
    open_ledger,
    progress_reporter,
    utcnow,
    when,
)
from custodian.commands.report_options import add_report_options, with_report_options
from custodian.commands.terminal import print_result
from custodian.config import Config, parse_duration
from custodian.errors import BadInputError
from custodian.model import RunMode
from custodian.providers.github.budget import budget_lines
from custodian.reports import render_json
from custodian.run import ACCOUNTS, REAPER, RunOutcome, RunRequest, run_lifecycle

ONLY_ARGS = ("--only",)
ONLY_KWARGS: dict[str, Any] = {
    "choices": (ACCOUNTS, REAPER),
    "help": "run one part: accounts (L1-L3, H1, N1, N2) or reaper (L4, O1-O6; needs a `reaper` config section); "
    "default: both",
}


def parts(args: argparse.Namespace) -> frozenset[str]:
    return frozenset({args.only}) if args.only else frozenset({ACCOUNTS, REAPER})


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parent = config_parent()
    audit = subparsers.add_parser(
        "audit",
        parents=[parent],
        help="read-only audit: service accounts (L1-L3, H1, N1, N2) and, when configured, leftovers/orphans",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Collect the release timeline and every service account, evaluate the rules and write the\n"
            "reports. Read-only on the wire: the HTTP clients refuse any mutating request.\n\n"
            "examples:\n"
            "  release-custodian audit -c release-custodian.yaml\n"
            "  release-custodian audit --as-of now+36h      # a forecast: what will be due in 36 hours?\n"
            "  release-custodian audit --only reaper -q     # leftovers and orphans, summary lines only\n"
            "  release-custodian audit --format json | jq '.findings[] | select(.status == \"FAIL\")'\n"
            "  release-custodian audit --report-formats json,sarif,ocsf --output-directory out/  # code scanning"
        ),
    )
    audit.add_argument(
        "--as-of",
        metavar="TIME",
        help="evaluate at this time instead of now (a forecast; ISO 8601 or now+36h)",
    )
    audit.add_argument(*ONLY_ARGS, **ONLY_KWARGS)
    add_output_options(audit)
    audit.set_defaults(handler=cmd_audit)

    enforce = subparsers.add_parser(
        "enforce",
        parents=[parent],
        help="plan (and with --apply, take) the actions that fix failing findings (accounts; reaper marks/deletes)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Without --apply: print the plan and change nothing (clients stay read-only).\n"
            "With --apply: act on targets in the allowlist (enforce.allowed_subscriptions / allowed_orgs),\n"
            "within the caps (enforce.max_actions_per_run / max_actions_percent). Every action is journaled\n"
            "before it is taken and confirmed by a re-read after; holds stop deletion, never revocation.\n\n"
            "examples:\n"
            "  release-custodian enforce                    # the plan: each action, its target, rule and cost\n"
            "  release-custodian enforce --apply            # act; prints what became of each action\n"
            "  release-custodian enforce --only accounts --apply\n"
            "  release-custodian enforce --apply --wait     # another applied run holds the ledger: wait for it\n"
            "  release-custodian enforce --apply --wait 10m # ... for at most 10 minutes"
        ),
    )
    enforce.add_argument("--apply", action="store_true", help="take the planned actions")
    enforce.add_argument(
        "--wait",
        nargs="?",
        const="",
        default=None,
        metavar="TIMEOUT",
        help="with --apply: when another applied run holds the ledger's apply lock, wait for it: as long as "
        "it lives (its heartbeat renews the lock), or at most TIMEOUT (e.g. 10m; then refused, exit 1). "
        "A holder killed on this host is replaced at once, elsewhere once its lock expires (ledger.lock_ttl). "
        "Default: refuse at once, exit 1, naming it",
    )
    enforce.add_argument(*ONLY_ARGS, **ONLY_KWARGS)
    add_output_options(enforce)
    enforce.set_defaults(handler=cmd_enforce)


def cmd_audit(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    as_of = when(args.as_of, "--as-of", utcnow())
    return _run(args, console, config, RunRequest(RunMode.AUDIT, as_of=as_of, parts=parts(args)))


def cmd_enforce(args: argparse.Namespace, console: Console) -> int:
    wait_timeout_s = wait_seconds(args)  # a bad --wait is bad input, found before anything is read
    config = load(args)
    request = RunRequest(
        RunMode.ENFORCE, apply=args.apply, parts=parts(args), wait=args.wait is not None, wait_timeout_s=wait_timeout_s
    )
    return _run(args, console, config, request)


def wait_seconds(args: argparse.Namespace) -> float | None:
    """`--wait TIMEOUT` in seconds; None for a bare `--wait` (or none)."""
    if not args.wait:
        return None
    try:
        seconds = parse_duration(args.wait.strip()).total_seconds()
    except ValueError as exc:
        raise BadInputError(f"--wait: {exc} (a duration such as 90s or 10m, or nothing: wait while it lives)") from None
    if seconds <= 0:
        raise BadInputError(f"--wait: '{args.wait}' must be a positive duration")
    return seconds


def _run(args: argparse.Namespace, console: Console, config: Config, request: RunRequest) -> int:
    config = with_report_options(config, args)  # --report-formats, --output-directory
    with open_ledger(config) as ledger, progress_reporter(console, args.log_format) as progress:
        outcome = run_lifecycle(config, request, ledger=ledger, clock=utcnow, progress=progress)
    if args.format == "json":  # for scripts: the canonical document on stdout, nothing else
        sys.stdout.write(render_json(outcome.result))
    else:
        print_outcome(console, outcome, quiet=args.quiet)
    return int(outcome.exit_code)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true", help="print the summary lines only, no tables")
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table: for people (default); json: the run's findings.json on stdout, for scripts",
    )
    add_report_options(parser)  # --report-formats, --output-directory


def print_outcome(console: Console, outcome: RunOutcome, *, quiet: bool = False) -> None:
    run = outcome.result.run
    label = (
        run.mode.value
        + (" --apply" if run.applied else "")
        + (f" --as-of {run.as_of:%Y-%m-%dT%H:%MZ} (FORECAST: what would be due then)" if run.as_of else "")
    )
    console.print(f"[bold]{label}[/bold]  run {run.run_id}", highlight=False)
    print_result(console, outcome.result, quiet=quiet)
    calls = ", ".join(f"{p} {sum(m.values())}" for p, m in outcome.api_calls.items())
    console.print(f"API calls: {calls or 'none'}", highlight=False)
    for line in budget_lines(outcome.github_budget):  # GitHub's rate limit: used, left, what the run did about it
        console.print(escape(line), highlight=False)
    console.print(f"reports: {escape(str(outcome.reports.main))}", highlight=False)
    console.print(f"reports pruned: {escape(outcome.reports.pruned_summary())}", highlight=False)
    console.print(f"exit code: {int(outcome.exit_code)} ({outcome.exit_code.name.lower().replace('_', ' ')})")
