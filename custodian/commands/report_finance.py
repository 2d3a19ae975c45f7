"""`release-custodian report finance`: waste found, reclaimed, held and needing a decision over time,
from the cost totals the ledger keeps for each run (`runs.costs`), per day or per run.

Per day (the default), as in report.html's trend (`custodian.reports.trend`): `found` is the most
found by one of the day's runs, `reclaimed` the day's sum, `held` and `needs a decision` as of its
last run. Forecasts, unpriced runs (the reaper did not run) and unfinished runs are left out; each
currency is reported apart. Amounts are per month (what the resources cost each month), with the
annualised figure (x12) of the totals; `--format csv` writes CSV (formula-guarded) on stdout.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from custodian.commands.common import config_parent, load, open_ledger, utcnow
from custodian.config import parse_duration
from custodian.errors import BadInputError, ExitCode
from custodian.model import CostPoint
from custodian.reports import DaySums, per_day
from custodian.reports.costs import money, per_year
from custodian.reports.csv_report import guard_cell
from custodian.run.report_inputs import cost_points
from custodian.timeparse import parse_when

DAY_COLUMNS: tuple[str, ...] = (
    "day",
    "runs",
    "currency",
    "found_per_month",
    "reclaimed_per_month",
    "held_per_month",
    "needs_decision_per_month",
    "complete",
)
RUN_COLUMNS: tuple[str, ...] = (
    "run",
    "started_at",
    "mode",
    "currency",
    "found_per_month",
    "reclaimed_per_month",
    "held_per_month",
    "needs_decision_per_month",
    "complete",
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    finance = commands.add_parser(
        "finance",
        parents=[config_parent()],
        help="waste found, reclaimed, held and needing a decision per day (or per run), from the ledger",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(__doc__ or "").split("\n\n", 1)[1] + "\nexamples:\n"
        "  release-custodian report finance                      # the last 90 days, per day\n"
        "  release-custodian report finance --since 30d --by run\n"
        "  release-custodian report finance --since 2026-10-01T00:00Z --format csv > finance.csv",
    )
    finance.add_argument(
        "--since",
        default="90d",
        metavar="WHEN",
        help="a duration back (90d, 2w) or a time (ISO 8601, now-30d)",
    )
    finance.add_argument("--by", choices=("day", "run"), default="day", help="one row per UTC day (default) or per run")
    finance.add_argument("--format", choices=("table", "csv"), default="table", help="table (default) or csv on stdout")
    finance.set_defaults(handler=cmd_finance)


def since_time(text: str, now: datetime) -> datetime:
    """`--since`: a duration back from now, or a time."""
    try:
        delta = parse_duration(text.strip())
    except ValueError:
        delta = None
    if delta is not None:
        if delta <= timedelta(0):
            raise BadInputError(f"--since: '{text}' must be a positive duration")
        return now - delta
    try:
        return parse_when(text, now)
    except ValueError as exc:
        raise BadInputError(f"--since: {exc} (or a duration such as 90d)") from None


def by_currency(points: Sequence[CostPoint]) -> dict[str, list[CostPoint]]:
    out: dict[str, list[CostPoint]] = {}
    for point in points:
        out.setdefault(point.currency or "", []).append(point)
    return out


def day_cells(day: DaySums) -> list[str]:
    return [
        day.day.isoformat(),
        str(day.runs),
        day.currency or "",
        money(day.found),
        money(day.reclaimed),
        money(day.held),
        money(day.needs_decision),
        "yes" if day.complete else "no",
    ]


def run_cells(point: CostPoint) -> list[str]:
    return [
        point.run_id,
        point.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        point.mode + (" --apply" if point.applied else ""),
        point.currency or "",
        money(point.found),
        money(point.reclaimed),
        money(point.held),
        money(point.needs_decision),
        "yes" if point.complete else "no",
    ]


def rows_of(points: Sequence[CostPoint], by: str) -> tuple[tuple[str, ...], list[list[str]]]:
    rows: list[list[str]] = []
    for _currency, members in sorted(by_currency(points).items()):
        if by == "day":
            rows += [day_cells(day) for day in per_day(members)]
        else:
            rows += [run_cells(p) for p in members]
    return (DAY_COLUMNS if by == "day" else RUN_COLUMNS), rows


def render_csv(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([guard_cell(cell) for cell in row])
    return buffer.getvalue()


def summary_lines(points: Sequence[CostPoint]) -> list[str]:
    """Per currency: what was reclaimed in the period, and where found, held and needs a decision stand now."""
    lines = []
    for currency, members in sorted(by_currency(points).items()):
        reclaimed = sum((p.reclaimed for p in members), Decimal(0))
        last = members[-1]
        lines.append(
            f"{currency}: reclaimed in the period {money(reclaimed)} {currency}/month "
            f"({money(per_year(reclaimed))} {currency}/year); at the last run ({last.run_id}): found "
            f"{money(last.found)}/month ({money(per_year(last.found))}/year), held {money(last.held)}/month, "
            f"needs a decision {money(last.needs_decision)}/month ({money(per_year(last.needs_decision))}/year)"
        )
    return lines


def cmd_finance(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    now = utcnow()
    since = since_time(args.since, now)
    with open_ledger(config) as ledger:
        records = ledger.runs_since(since)
    points = cost_points(records)
    columns, rows = rows_of(points, args.by)
    if args.format == "csv":
        sys.stdout.write(render_csv(columns, rows))
        return ExitCode.OK
    if not rows:
        console.print(f"no priced run since {since:%Y-%m-%d %H:%M}Z (the reaper prices what it finds)", highlight=False)
        return ExitCode.OK
    table = Table(show_header=True, header_style="bold", title=f"waste per month since {since:%Y-%m-%d}")
    for column in columns:
        right = column.endswith("_per_month") or column == "runs"
        table.add_column(
            column.replace("_per_month", " /month").replace("_", " "), justify="right" if right else "left"
        )
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for line in summary_lines(points):
        console.print(line, highlight=False)
    return ExitCode.OK
