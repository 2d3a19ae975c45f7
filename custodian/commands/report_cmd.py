"""`release-custodian report list|show`: the runs in the ledger and their written reports."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from custodian.commands.common import config_parent, load, open_ledger
from custodian.errors import BadInputError, ExitCode


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        "report",
        help="list runs and show their reports",
        formatter_class=raw,
        description="examples:\n  release-custodian report list\n  release-custodian report show latest",
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
        help="print a run's summary.md and its files",
        formatter_class=raw,
        description="examples:\n"
        "  release-custodian report show latest\n"
        "  release-custodian report show RUN_ID   # a run id from `report list`",
    )
    show.add_argument(
        "run_id", metavar="RUN_ID", help="a run id from `report list`, or `latest` (the newest run that is no forecast)"
    )
    show.set_defaults(handler=cmd_show)


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
        table.add_row(info.run_id, f"{info.started_at:%m-%d %H:%M}Z", mode, run.outcome or "(unfinished)", counts)
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
    summary = directory / "summary.md"
    console.print(Markdown(summary.read_text(encoding="utf-8")))
    for path in sorted(directory.iterdir()):
        console.print(f"  {path}", highlight=False)
    return ExitCode.OK
