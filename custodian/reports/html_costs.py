"""The cost section of `report.html`, as plain values for the template: the totals per month and per
year, what needs a decision, four stacked bar charts, the trend of found and reclaimed per day, and
the most expensive items (see `custodian.reports.html_report` for the hooks tests rely on).

Charts are inline SVG laid out here (coordinates computed, the template only draws them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from custodian.model import RunResult

from .common import incomplete_note
from .costs import Bucket, CostRow, CostSummary, money, per_year
from .trend import DaySums, per_day, run_series

CHART_WIDTH = 640
CHART_LABEL_WIDTH = 170
CHART_BAR_WIDTH = 330
CHART_ROW = 26
CHART_BAR_HEIGHT = 16
CHART_TOP = 6
CHART_TITLES = {
    "stage": "by stage",
    "version": "by version",
    "type": "by resource type",
    "subscription": "by subscription (or storage account)",
}
TREND_HEIGHT = 200  # the plot area of the trend chart
TREND_LEFT = 70
TREND_TOP = 14
TREND_BOTTOM = 36


@dataclass(frozen=True)
class BarSegment:
    series: str  # reclaimed | open | held | decision
    value: str
    x: float
    width: float


@dataclass(frozen=True)
class BarView:
    key: str
    label: str
    found: str
    reclaimed: str
    held: str
    needs_decision: str
    total: str
    items: int
    y: float
    text_y: float
    value_x: float
    segments: tuple[BarSegment, ...]


@dataclass(frozen=True)
class ChartView:
    name: str
    title: str
    width: int
    height: int
    label_x: int
    track_x: int
    track_width: int
    bar_height: int
    bars: tuple[BarView, ...]


@dataclass(frozen=True)
class CostItemView:
    name: str
    type: str
    subscription: str
    subscription_name: str
    resource_group: str
    version: str
    stage: str
    owner: str
    cost_center: str
    rule: str
    size_sku: str
    status: str
    cost: str
    annual: str
    currency: str
    action: str
    confirmed: bool
    basis: str
    why: str


@dataclass(frozen=True)
class TrendBar:
    series: str  # found | reclaimed
    value: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class TrendDay:
    day: str
    label: str
    runs: int
    found: str
    reclaimed: str
    held: str
    needs_decision: str
    complete: bool
    label_x: float
    bars: tuple[TrendBar, ...]


@dataclass(frozen=True)
class TrendTick:
    y: float
    label: str


@dataclass(frozen=True)
class TrendView:
    width: int
    height: int
    left: int
    top: int
    bottom: int  # y of the axis
    runs: int
    days: tuple[TrendDay, ...]
    ticks: tuple[TrendTick, ...]


@dataclass(frozen=True)
class CostsView:
    currency: str
    found: str
    reclaimed: str
    held: str
    needs_decision: str
    annual: dict[str, str]  # found | reclaimed | held | needs_decision -> per year
    items: int
    charts: tuple[ChartView, ...]
    top: tuple[CostItemView, ...]
    more: int
    decisions: tuple[CostItemView, ...]
    trend: TrendView
    price_source: str
    price_retrieved: str
    price_region: str
    other_currencies: tuple[str, ...]
    incomplete: str = ""  # "incomplete: N scopes not inventoried" (the totals miss what was not seen)


def _label(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_chart(name: str, buckets: tuple[Bucket, ...], labels: Mapping[str, str] | None = None) -> ChartView:
    """Horizontal stacked bars (reclaimed, open, held, needs a decision) scaled to the largest bar;
    `labels` names a bar's key for people (a subscription's display name), its `data-key` stays the key."""
    largest = max((b.found + b.held + b.needs_decision for b in buckets), default=Decimal(0))
    scale = (Decimal(CHART_BAR_WIDTH) / largest) if largest > 0 else Decimal(0)
    bars = []
    for index, bucket in enumerate(buckets):
        y = CHART_TOP + index * CHART_ROW
        x = float(CHART_LABEL_WIDTH)
        segments = []
        for series, amount in (
            ("reclaimed", bucket.reclaimed),
            ("open", max(bucket.found - bucket.reclaimed, Decimal(0))),
            ("held", bucket.held),
            ("decision", bucket.needs_decision),
        ):
            width = float(amount * scale)
            if amount > 0:
                segments.append(BarSegment(series, money(amount), round(x, 2), round(max(width, 1.0), 2)))
            x += width
        bars.append(
            BarView(
                key=bucket.key,
                label=_label((labels or {}).get(bucket.key.lower()) or bucket.key),
                found=money(bucket.found),
                reclaimed=money(bucket.reclaimed),
                held=money(bucket.held),
                needs_decision=money(bucket.needs_decision),
                total=money(bucket.found + bucket.held + bucket.needs_decision),
                items=bucket.items,
                y=y,
                text_y=y + CHART_BAR_HEIGHT - 4,
                value_x=round(x + 6, 2),
                segments=tuple(segments),
            )
        )
    height = CHART_TOP * 2 + max(len(bars), 1) * CHART_ROW
    return ChartView(
        name=name,
        title=CHART_TITLES[name],
        width=CHART_WIDTH,
        height=height,
        label_x=CHART_LABEL_WIDTH - 8,
        track_x=CHART_LABEL_WIDTH,
        track_width=CHART_BAR_WIDTH,
        bar_height=CHART_BAR_HEIGHT,
        bars=tuple(bars),
    )


def build_trend(days: list[DaySums], runs: int) -> TrendView:
    """Vertical bars per day: found (left) and reclaimed (right), on one scale; oldest day first."""
    group = max(14.0, min(48.0, (CHART_WIDTH - TREND_LEFT - 10) / max(len(days), 1)))
    width = max(CHART_WIDTH, int(TREND_LEFT + group * len(days) + 10))
    axis = TREND_TOP + TREND_HEIGHT
    largest = max((max(d.found, d.reclaimed) for d in days), default=Decimal(0))
    scale = Decimal(TREND_HEIGHT) / largest if largest > 0 else Decimal(0)
    bar = round(group * 0.36, 2)
    views = []
    for index, day in enumerate(days):
        x0 = TREND_LEFT + index * group + group * 0.1
        bars = []
        for offset, (series, amount) in enumerate((("found", day.found), ("reclaimed", day.reclaimed))):
            height = float(amount * scale)
            if amount > 0:
                height = max(height, 1.0)
            bars.append(
                TrendBar(
                    series, money(amount), round(x0 + offset * bar, 2), round(axis - height, 2), bar, round(height, 2)
                )
            )
        views.append(
            TrendDay(
                day=day.day.isoformat(),
                label=day.day.strftime("%m-%d"),
                runs=day.runs,
                found=money(day.found),
                reclaimed=money(day.reclaimed),
                held=money(day.held),
                needs_decision=money(day.needs_decision),
                complete=day.complete,
                label_x=round(x0 + bar, 2),
                bars=tuple(bars),
            )
        )
    ticks = tuple(
        TrendTick(round(axis - TREND_HEIGHT * fraction, 2), money(largest * Decimal(str(fraction))))
        for fraction in (0.0, 0.5, 1.0)
    )
    return TrendView(width, axis + TREND_BOTTOM, TREND_LEFT, TREND_TOP, axis, runs, tuple(views), ticks)


def item_view(row: CostRow) -> CostItemView:
    return CostItemView(
        name=row.name,
        type=row.type,
        subscription=row.subscription or row.scope,
        subscription_name=row.subscription_name,
        resource_group=row.resource_group,
        version=row.version,
        stage=row.stage,
        owner=row.owner,
        cost_center=row.cost_center,
        rule=row.rule,
        size_sku=row.size_sku,
        status=row.status.value,
        cost=money(row.monthly),
        annual=money(per_year(row.monthly)),
        currency=row.currency,
        action=f"{row.action} ({row.action_outcome})" if row.action else "",
        confirmed=row.confirmed,
        basis=row.basis,
        why=row.message,
    )


def build_costs(result: RunResult, summary: CostSummary, top: int = 10) -> CostsView:
    rows = [r for r in summary.rows if r.currency == summary.currency]
    table = result.price_table
    totals = summary.totals
    series = run_series(result)
    return CostsView(
        incomplete=incomplete_note(result),
        currency=summary.currency or "",
        found=money(totals.found),
        reclaimed=money(totals.reclaimed),
        held=money(totals.held),
        needs_decision=money(totals.needs_decision),
        annual={
            "found": money(per_year(totals.found)),
            "reclaimed": money(per_year(totals.reclaimed)),
            "held": money(per_year(totals.held)),
            "needs_decision": money(per_year(totals.needs_decision)),
        },
        items=totals.items,
        charts=(
            build_chart("stage", summary.by_stage),
            build_chart("version", summary.by_version),
            build_chart("type", summary.by_type),
            build_chart("subscription", summary.by_subscription, result.context.subscription_names),
        ),
        top=tuple(item_view(r) for r in rows[:top]),
        more=max(len(rows) - top, 0),
        decisions=tuple(item_view(r) for r in summary.needs_decision()),
        trend=build_trend(per_day(series), len(series)),
        price_source=table.source if table else "",
        price_retrieved=table.retrieved if table else "",
        price_region=table.region if table else "",
        other_currencies=tuple(summary.other_currencies),
    )
