"""`release-custodian report list|show|finance`: the runs in the ledger, their written reports (whole, or
the findings matching a rule, status or severity), and finance over time (`report_finance`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from custodian.commands import report_finance
from custodian.commands.common import config_parent, load, open_ledger
from custodian.commands.terminal import where
from custodian.errors import BadInputError, ExitCode
from custodian.model import Severity, Status
from custodian.rules.registry import BY_ID


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        "report",
        help="list runs and show their reports",
        formatter_class=raw,
        description="examples:\n  release-custodian report list\n  release-custodian report show latest\n"
        "  release-custodian report show latest --rule L1 --status FAIL --severity high\n"
        "  release-custodian report finance --since 90d --format csv",
    )
    commands = parser.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    listing = commands.add_parser(
        "list",
        parents=[config_parent()],
        help="the latest runs in the ledger",
        formatter_class=raw,
        description="Each run: when, its mode, whether it applied, its outcome and its counts of findings.\n\n"
        "examples:\n"
        "  release-custodian report list\n"
        "  release-custodian report list --limit 5 -c release-custodian.yaml",
    )
    listing.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    listing.set_defaults(handler=cmd_list)
    show = commands.add_parser(
        "show",
        parents=[config_parent()],
        help="print a run's summary.md and its files, or the findings matching --rule/--status/--severity",
        formatter_class=raw,
        description="Without a filter: the run's summary.md and its report files. With --rule, --status or\n"
        "--severity (each repeatable or comma-separated; a finding matches every filter given): the\n"
        "matching findings of the run's findings.json.\n\n"
        "examples:\n"
        "  release-custodian report show latest\n"
        "  release-custodian report show RUN_ID   # a run id from `report list`\n"
        "  release-custodian report show latest --rule L1 --status FAIL --severity high\n"
        "  release-custodian report show latest --status FAIL,ERROR --format json | jq length",
    )
    show.add_argument(
        "run_id", metavar="RUN_ID", help="a run id from `report list`, or `latest` (the newest run that is no forecast)"
    )
    show.add_argument("--rule", action="append", metavar="RULE", help="only findings of this rule (e.g. L1, O5)")
    show.add_argument(
        "--status", action="append", metavar="STATUS", help=f"only findings with this status ({', '.join(Status)})"
    )
    show.add_argument(
        "--severity", action="append", metavar="SEVERITY", help=f"only this severity ({', '.join(Severity)})"
    )
    show.add_argument(
        "--format", choices=("table", "json"), default="table", help="matching findings as a table or a JSON array"
    )
    show.set_defaults(handler=cmd_show)
    report_finance.register(commands)


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    if args.limit < 1:
        raise BadInputError(f"--limit must be >= 1, got {args.limit}")
    config = load(args)
    with open_ledger(config) as ledger:
        runs = ledger.list_runs(args.limit)
    table = Table(show_header=True, header_style="bold")
    table.add_column("run", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("mode", overflow="fold")
    table.add_column("trigger", overflow="fold")  # event:<delivery>, schedule:<job>, manual
    table.add_column("outcome", no_wrap=True)
    table.add_column("findings", overflow="fold")
    for run in runs:
        info = run.info
        mode = info.mode.value + (" --apply" if info.applied else "")
        if info.as_of:
            mode += f" (forecast at {info.as_of:%Y-%m-%d %H:%M}Z)"
        counts = " ".join(
            f"{k} {run.counts[k]}" for k in ("FAIL", "FIXED", "ERROR", "WARN", "HELD") if run.counts.get(k)
        )
        trigger = info.trigger or "manual"
        table.add_row(
            info.run_id, f"{info.started_at:%m-%d %H:%M}Z", mode, trigger, run.outcome or "(unfinished)", counts
        )
    console.print(table if runs else "no runs yet")
    return ExitCode.OK


def run_directory(reports_dir: Path, run_id: str) -> Path | None:
    matches = sorted(reports_dir.glob(f"*/{run_id}"))
    return matches[-1] if matches else None


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    run_id = args.run_id
    if run_id == "latest":  # the newest run that is not a forecast (`audit --as-of` says what would be due)
        with open_ledger(config) as ledger:
            runs = [r for r in ledger.list_runs(200) if r.info.as_of is None]
        if not runs:
            raise BadInputError("no runs yet (forecasts aside)")
        run_id = runs[0].info.run_id
    directory = run_directory(config.reports.directory, run_id)
    if directory is None:
        raise BadInputError(f"no reports for run '{run_id}' under {config.reports.directory}")
    filters = finding_filters(args)
    if filters or args.format == "json":
        return show_findings(console, directory, filters, args.format)
    summary = directory / "summary.md"
    if summary.exists():
        console.print(Markdown(summary.read_text(encoding="utf-8")))
    for path in sorted(directory.iterdir()):
        console.print(f"  {path}", highlight=False)
    return ExitCode.OK


def _values(given: Sequence[str] | None) -> list[str]:
    return [part.strip() for value in given or () for part in value.split(",") if part.strip()]


def finding_filters(args: argparse.Namespace) -> dict[str, set[str]]:
    """The filters given, checked: registered rules, known statuses and severities (else exit 2)."""
    filters: dict[str, set[str]] = {}
    rules = {v.upper() for v in _values(args.rule)}
    statuses = {v.upper() for v in _values(args.status)}
    severities = {v.lower() for v in _values(args.severity)}
    problems = []
    if unknown := sorted(rules - set(BY_ID)):
        problems.append(f"--rule {', '.join(unknown)}: not a registered rule ({', '.join(BY_ID)})")
    if unknown := sorted(statuses - {s.value for s in Status}):
        problems.append(f"--status {', '.join(unknown)}: not a status ({', '.join(Status)})")
    if unknown := sorted(severities - {s.value for s in Severity}):
        problems.append(f"--severity {', '.join(unknown)}: not a severity ({', '.join(Severity)})")
    if problems:
        raise BadInputError("; ".join(problems))
    for key, chosen in (("rule", rules), ("status", statuses), ("severity", severities)):
        if chosen:
            filters[key] = chosen
    return filters


def matching(findings: Sequence[dict[str, Any]], filters: dict[str, set[str]]) -> list[dict[str, Any]]:
    return [f for f in findings if all(str(f.get(key)) in chosen for key, chosen in filters.items())]


def show_findings(console: Console, directory: Path, filters: dict[str, set[str]], output: str) -> int:
    """The findings of the run's findings.json that match every filter (report order)."""
    canonical = directory / "findings.json"
    if not canonical.exists():
        raise BadInputError(f"{canonical} is missing: the run's reports are incomplete")
    document = json.loads(canonical.read_text(encoding="utf-8"))
    findings = matching(document.get("findings", []), filters)
    if output == "json":
        sys.stdout.write(json.dumps(findings, indent=2, ensure_ascii=False) + "\n")
        return ExitCode.OK
    described = "; ".join(f"{key} {', '.join(sorted(v))}" for key, v in filters.items()) or "no filter"
    total = len(document.get("findings", []))
    console.print(f"run {document['run']['id']}: {len(findings)} of {total} findings match ({described})")
    if not findings:
        return ExitCode.OK
    table = Table(show_header=True, header_style="bold")
    for column in ("status", "severity", "rule"):
        table.add_column(column, no_wrap=True)
    table.add_column("subject", overflow="ellipsis", no_wrap=True, max_width=34)
    table.add_column("where", overflow="ellipsis", no_wrap=True, max_width=18)
    table.add_column("cost /month", justify="right", no_wrap=True)
    table.add_column("message", overflow="fold", ratio=1)
    for finding in findings:
        subject = finding["subject"]
        cost = finding.get("cost")
        table.add_row(
            finding["status"],
            finding["severity"],
            finding["rule"],
            escape(f"{subject['kind']} {subject.get('logical_name') or subject['provider_name']}"),
            escape(where(subject.get("scope"))),
            f"{cost['monthly']} {cost['currency']}" if cost else "",
            escape(finding["message"]),
        )
    console.print(table)
    return ExitCode.OK
