"""`cost.csv`: the finance view of a priced run, one row per resource with its estimated cost per month.

Columns are `COST_CSV_COLUMNS`. The first, `row`, says what a row is:

- `item`: one resource (see `custodian.reports.costs` for how findings become rows), most
  expensive first. `estimated_cost_per_month` is a plain decimal in `currency` ("12.34"),
  `estimated_cost_per_year` the same x12; `subscription_name` is the subscription's display name,
  `owner` and `cost_center` the resource's tags (`reports.owner_tag_keys`,
  `reports.cost_center_tag_keys`); `action` is the kind of the latest action taken or planned on
  it in this run, `action_outcome` what became of it, `confirmed` is `yes` when it was deleted
  and a re-read confirmed it.
- `total`: the run's sums, per currency, after the items: `waste found` (FAIL items), `waste
  reclaimed` (confirmed items), `waste held` (HELD items), `needs a decision` (WARN items: report
  only, they cost money and no action reclaims them) and `all items`. Sum the `item` rows (filter
  or SUMIF on `row`) and you get `all items`; never add the `total` rows to them.

Same conventions as `findings.csv`: UTF-8 without BOM, RFC 4180 quoting, CRLF line ends, and any
cell a spreadsheet would read as a formula gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from custodian.model import RunResult, Status

from .costs import NEEDS_DECISION, CostRow, Totals, cost_summary, money, per_year
from .csv_report import guard_cell

COST_CSV_COLUMNS: tuple[str, ...] = (
    "row",
    "subscription",
    "subscription_name",
    "resource_group",
    "type",
    "name",
    "version",
    "stage",
    "owner",
    "cost_center",
    "rule",
    "size_sku",
    "estimated_cost_per_month",
    "estimated_cost_per_year",
    "currency",
    "status",
    "action",
    "action_outcome",
    "confirmed",
    "scope",
    "resource_id",
    "basis",
)

TOTAL_NAMES: tuple[str, ...] = ("waste found", "waste reclaimed", "waste held", "needs a decision", "all items")


def item_row(row: CostRow) -> list[str]:
    return [
        "item",
        row.subscription,
        row.subscription_name,
        row.resource_group,
        row.type,
        row.name,
        row.version,
        row.stage,
        row.owner,
        row.cost_center,
        row.rule,
        row.size_sku,
        money(row.monthly),
        money(per_year(row.monthly)),
        row.currency,
        row.status.value,
        row.action,
        row.action_outcome,
        "yes" if row.confirmed else "no",
        row.scope,
        row.resource_id,
        row.basis,
    ]


def total_rows(currency: str, totals: Totals) -> list[list[str]]:
    def total(name: str, amount: Decimal, status: str = "", confirmed: str = "", items: int | None = None) -> list[str]:
        cells = dict.fromkeys(COST_CSV_COLUMNS, "")
        count = f"{items} item{'s' if items != 1 else ''}" if items is not None else ""
        cells.update(
            row="total",
            name=name,
            estimated_cost_per_month=money(amount),
            estimated_cost_per_year=money(per_year(amount)),
            currency=currency,
            status=status,
            confirmed=confirmed,
            basis=count,
        )
        return [cells[c] for c in COST_CSV_COLUMNS]

    return [
        total("waste found", totals.found, Status.FAIL.value),
        total("waste reclaimed", totals.reclaimed, confirmed="yes"),
        total("waste held", totals.held, Status.HELD.value),
        total("needs a decision", totals.needs_decision, NEEDS_DECISION.value),
        total("all items", totals.all_items, items=totals.items),
    ]


def render_cost_csv(result: RunResult) -> str:
    """`cost.csv` as text: header, item rows, then the total rows per currency."""
    summary = cost_summary(result)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COST_CSV_COLUMNS)
    for row in summary.rows:
        writer.writerow([guard_cell(cell) for cell in item_row(row)])
    if summary.currency is not None:
        for cells in total_rows(summary.currency, summary.totals):
            writer.writerow([guard_cell(cell) for cell in cells])
    for currency, totals in summary.other_currencies.items():
        for cells in total_rows(currency, totals):
            writer.writerow([guard_cell(cell) for cell in cells])
    return buffer.getvalue()
