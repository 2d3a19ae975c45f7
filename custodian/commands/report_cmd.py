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
    parser = subparsers.add_parser("report", help="list runs and show their reports")
    commands = parser.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", parents=[config_parent()], help="the latest runs in the ledger")
    listing.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    listing.set_defaults(handler=cmd_list)
    show = commands.add_parser("show", parents=[config_parent()], help="print a run's summary.md and its files")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id from `report list` (or `latest`)")
    show.set_defaults(handler=cmd_show)


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    if args.limit < 1:
        raise BadInputError(f"--limit must be >= 1, got {args.limit}")
    config = load(args)
    with open_ledger(config) as ledger:
        runs = ledger.list_runs(args.limit)
    table = Table(show_header=True, header_style="bold")
    for column in ("run", "started", "mode", "applied", "outcome", "FAIL", "WARN", "HELD", "ERROR"):
        table.add_column(column)
    for run in runs:
        counts = run.counts
        table.add_row(
            run.info.run_id,
            f"{run.info.started_at:%Y-%m-%d %H:%M}Z",
            run.info.mode.value,
            "yes" if run.info.applied else "no",
            run.outcome or "(unfinished)",
            *(str(counts.get(k, 0)) for k in ("FAIL", "WARN", "HELD", "ERROR")),
        )
    console.print(table if runs else "no runs yet")
    return ExitCode.OK


def run_directory(reports_dir: Path, run_id: str) -> Path | None:
    matches = sorted(reports_dir.glob(f"*/{run_id}"))
    return matches[-1] if matches else None


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    run_id = args.run_id
    if run_id == "latest":
        with open_ledger(config) as ledger:
            runs = ledger.list_runs(1)
        if not runs:
            raise BadInputError("no runs yet")
        run_id = runs[0].info.run_id
    directory = run_directory(config.reports.directory, run_id)
    if directory is None:
        raise BadInputError(f"no reports for run '{run_id}' under {config.reports.directory}")
    summary = directory / "summary.md"
    console.print(Markdown(summary.read_text(encoding="utf-8")))
    for path in sorted(directory.iterdir()):
        console.print(f"  {path}", highlight=False)
    return ExitCode.OK
