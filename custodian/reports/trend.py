"""Found and reclaimed over time: the cost totals of runs (the ledger keeps each run's `costs`
document), per run or per day, for the trend chart of report.html and `report finance`.

A run counts when it finished, is no forecast (`audit --as-of`), and was priced (the reaper ran:
its document has a currency). Per UTC day:

- `found`: the highest waste found among the day's runs (the most seen that day; an applied run
  counts what it reclaimed as found, so found >= reclaimed on the day it happened);
- `reclaimed`: the sum of what the day's runs reclaimed (deleted and confirmed);
- `held`, `needs_decision`: as of the day's last run (what is still there at the end of the day);
- `complete`: every run of the day inventoried everything (else its totals miss what was not seen).

Only the points in one currency are aggregated (the current run's, else the most recent run's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from custodian.model import CostPoint, RunResult

from .common import uninventoried, utc
from .costs import ZERO, cost_summary, has_costs


@dataclass(frozen=True)
class DaySums:
    day: date
    runs: int
    currency: str | None
    found: Decimal
    reclaimed: Decimal
    held: Decimal
    needs_decision: Decimal
    complete: bool


def _amount(document: Mapping[str, Any], key: str) -> Decimal:
    try:
        return Decimal(str(document.get(key) or "0"))
    except InvalidOperation:
        return ZERO


def cost_point(
    run_id: str,
    started_at: datetime,
    mode: str,
    applied: bool,
    costs: Mapping[str, Any] | None,
    *,
    forecast: bool = False,
) -> CostPoint | None:
    """The point of one run from its stored `costs` document; None for a forecast or an unpriced run."""
    if forecast or not costs or not costs.get("currency"):
        return None
    return CostPoint(
        run_id=run_id,
        started_at=utc(started_at),
        mode=mode,
        applied=applied,
        currency=str(costs["currency"]),
        found=_amount(costs, "found"),
        reclaimed=_amount(costs, "reclaimed"),
        held=_amount(costs, "held"),
        needs_decision=_amount(costs, "needs_decision"),
        items=int(costs.get("items") or 0),
        complete=not costs.get("incomplete"),
    )


def current_point(result: RunResult) -> CostPoint | None:
    """This run's own point (None for a forecast or an unpriced run)."""
    if result.forecast or not has_costs(result):
        return None
    summary = cost_summary(result)
    totals = summary.totals
    return CostPoint(
        run_id=result.run.run_id,
        started_at=utc(result.run.started_at),
        mode=result.run.mode.value,
        applied=result.run.applied,
        currency=summary.currency,
        found=totals.found,
        reclaimed=totals.reclaimed,
        held=totals.held,
        needs_decision=totals.needs_decision,
        items=totals.items,
        complete=uninventoried(result) == 0,
    )


def run_series(result: RunResult) -> list[CostPoint]:
    """The earlier runs of `result.context.history` and this run, oldest first, in this run's currency."""
    points = {p.run_id: p for p in result.context.history}
    own = current_point(result)
    if own is not None:
        points[own.run_id] = own
    ordered = sorted(points.values(), key=lambda p: (p.started_at, p.run_id))
    if own is not None:
        currency = own.currency
    elif has_costs(result):  # a forecast: still this run's currency
        currency = cost_summary(result).currency
    else:
        currency = ordered[-1].currency if ordered else None
    return [p for p in ordered if p.currency == currency]


def per_day(points: Iterable[CostPoint]) -> list[DaySums]:
    """Points grouped by UTC day, oldest first (see the module docstring for what each sum means)."""
    days: dict[date, list[CostPoint]] = {}
    for point in sorted(points, key=lambda p: (p.started_at, p.run_id)):
        days.setdefault(utc(point.started_at).date(), []).append(point)
    return [_day(day, members) for day, members in days.items()]


def _day(day: date, points: Sequence[CostPoint]) -> DaySums:
    last = points[-1]
    return DaySums(
        day=day,
        runs=len(points),
        currency=last.currency,
        found=max(p.found for p in points),
        reclaimed=sum((p.reclaimed for p in points), ZERO),
        held=last.held,
        needs_decision=last.needs_decision,
        complete=all(p.complete for p in points),
    )


__all__ = ["DaySums", "cost_point", "current_point", "per_day", "run_series"]
