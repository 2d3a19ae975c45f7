"""Cost figures for finance, computed once from a `RunResult` and shared by every format.

- A **cost row** is one resource with an estimated monthly cost: the findings about the same
  subject (provider, scope, provider name, resource id) are merged into one row, so a resource two
  rules flag (say L4 and O1) is counted once. Its status is the worst of its findings', its rules
  are listed in order, its cost is the highest estimate among them.
- **Waste found** sums the rows whose status is FAIL (or FIXED: found, then reclaimed by this run);
  **waste held** the HELD rows; **waste reclaimed** the rows whose subject has a DELETE_RESOURCE
  action DONE (deleted and confirmed by a re-read) in this run. Reclaimed is a part of found.
  **Needs a decision** sums the WARN rows: report-only findings that cost money (a stopped VM still
  paying for its disks, a prod-stage or managed object the custodian never deletes), which no
  action will reclaim; someone has to decide. Every amount is per month; `per_year` is x12.
- Sums are in the run's currency (the price table's, else the most common one); rows in another
  currency are summed apart (`other_currencies`), never added to it.
- `subscription` and `resource_group` come from an ARM resource id (or a `/subscriptions/...`
  scope); a subject without one (a blob: its scope is the storage account) has neither, and is
  grouped under its scope in `by_subscription`. `size_sku` joins the size and SKU facts found in the
  evidence (`SIZE_SKU_KEYS`, as `key=value`). `subscription_name` is the display name ARM lists
  (`RunResult.context`); `owner` and `cost_center` are the values of the first configured tag keys
  present on the resource (its evidence's `tags`).

Money is `Decimal`, rounded to cents, rendered as strings ("12.34") so that no float creeps in.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from custodian.model import ActionKind, ActionOutcome, ActionRecord, Finding, RunResult, Status, Subject

from .common import incomplete_note, status_rank, utc, worst_status
from .labels import SIZE_SKU_KEYS, arm_parts, size_sku, tag_value

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
NONE_LABEL = "(none)"
MONTHS_PER_YEAR = 12
NEEDS_DECISION = Status.WARN  # report only, and it costs money: no action reclaims it, someone must decide


def money(amount: Decimal) -> str:
    """`12.3` -> `"12.30"`: cents, half up."""
    return str(amount.quantize(CENT, ROUND_HALF_UP))


def per_year(monthly: Decimal) -> Decimal:
    """The annualised figure of a monthly amount (x12)."""
    return monthly * MONTHS_PER_YEAR


def subject_id(subject: Subject) -> tuple[str, str, str, str]:
    """What identifies a resource across findings and actions."""
    return (subject.provider, subject.scope or "", subject.provider_name, subject.resource_id or "")


def _action_id(subject: Subject) -> tuple[str, str, str]:
    return (subject.provider, subject.scope or "", subject.provider_name)


@dataclass(frozen=True)
class CostRow:
    """One resource with an estimated monthly cost."""

    subscription: str
    resource_group: str
    type: str
    name: str
    version: str
    stage: str
    rules: tuple[str, ...]
    size_sku: str
    monthly: Decimal
    currency: str
    status: Status
    action: str  # the kind of the latest action on the subject in this run, or ""
    action_outcome: str
    confirmed: bool  # a DELETE_RESOURCE on the subject is DONE
    scope: str
    resource_id: str
    basis: str
    subscription_name: str = ""
    owner: str = ""
    cost_center: str = ""
    message: str = ""  # what the worst finding about it says (why it needs a decision, for WARN rows)

    @property
    def rule(self) -> str:
        return ",".join(self.rules)

    @property
    def billing_scope(self) -> str:
        """The subscription, or the scope (e.g. the storage account) when there is none."""
        return self.subscription or self.scope or NONE_LABEL


@dataclass(frozen=True)
class Bucket:
    """Sums for one group of rows (a rule, a stage, ...)."""

    key: str
    found: Decimal
    reclaimed: Decimal
    held: Decimal
    items: int
    needs_decision: Decimal = ZERO

    def document(self) -> dict[str, str | int]:
        return {
            "found": money(self.found),
            "reclaimed": money(self.reclaimed),
            "held": money(self.held),
            "needs_decision": money(self.needs_decision),
            "items": self.items,
        }


@dataclass(frozen=True)
class Totals:
    found: Decimal
    reclaimed: Decimal
    held: Decimal
    all_items: Decimal
    items: int
    needs_decision: Decimal = ZERO

    def document(self) -> dict[str, str | int]:
        """The same shape as a bucket's (findings.json `costs.totals`)."""
        return Bucket("", self.found, self.reclaimed, self.held, self.items, self.needs_decision).document()


@dataclass(frozen=True)
class CostSummary:
    currency: str | None
    rows: tuple[CostRow, ...]  # every costed resource, most expensive first (any currency)
    totals: Totals  # in `currency`
    other_currencies: dict[str, Totals]
    by_rule: tuple[Bucket, ...]
    by_stage: tuple[Bucket, ...]
    by_version: tuple[Bucket, ...]
    by_type: tuple[Bucket, ...]
    by_subscription: tuple[Bucket, ...]

    def top(self, n: int = 5) -> list[CostRow]:
        """The `n` most expensive FAIL, HELD or needs-a-decision (WARN) rows in the run's currency."""
        wanted = (Status.FAIL, Status.HELD, NEEDS_DECISION)
        return [r for r in self.rows if r.currency == self.currency and r.status in wanted][:n]

    def needs_decision(self) -> list[CostRow]:
        """The report-only rows that cost money, in the run's currency, most expensive first."""
        return [r for r in self.rows if r.currency == self.currency and r.status is NEEDS_DECISION]


def has_costs(result: RunResult) -> bool:
    """Whether the run is priced: it carries a price table (the reaper ran) or a finding has a cost."""
    return result.price_table is not None or any(f.cost is not None for f in result.findings)


def _latest_actions(
    actions: Iterable[ActionRecord],
) -> tuple[dict[tuple[str, str, str], ActionRecord], set[tuple[str, str, str]]]:
    latest: dict[tuple[str, str, str], ActionRecord] = {}
    confirmed: set[tuple[str, str, str]] = set()
    for record in sorted(actions, key=lambda r: utc(r.at)):
        key = _action_id(record.action.subject)
        latest[key] = record
        if record.action.kind is ActionKind.DELETE_RESOURCE and record.outcome is ActionOutcome.DONE:
            confirmed.add(key)
    return latest, confirmed


def cost_rows(result: RunResult) -> list[CostRow]:
    """One row per costed resource, most expensive first (then by status, type and name)."""
    grouped: dict[tuple[str, str, str, str], list[Finding]] = {}
    for finding in result.findings:
        if finding.cost is not None:
            grouped.setdefault(subject_id(finding.subject), []).append(finding)
    latest, confirmed = _latest_actions(result.actions)
    context = result.context
    rows = []
    for findings in grouped.values():
        findings.sort(key=lambda f: (status_rank(f.status), f.rule))
        priciest = max(findings, key=lambda f: f.cost.monthly if f.cost else ZERO)
        assert priciest.cost is not None
        subject = priciest.subject
        subscription, group = arm_parts(subject.resource_id, subject.scope)
        record = latest.get(_action_id(subject))
        rules = tuple(dict.fromkeys(f.rule for f in findings))
        tagged = [f.evidence for f in findings]
        rows.append(
            CostRow(
                subscription=subscription,
                resource_group=group,
                type=subject.kind,
                name=subject.provider_name,
                version=next((f.subject.version for f in findings if f.subject.version), ""),
                stage=next((f.subject.stage for f in findings if f.subject.stage), ""),
                rules=rules,
                size_sku=next((size_sku(f) for f in findings if size_sku(f)), ""),
                monthly=priciest.cost.monthly.quantize(CENT, ROUND_HALF_UP),
                currency=priciest.cost.currency,
                status=worst_status(f.status for f in findings) or Status.PASS,
                action=record.action.kind.value if record else "",
                action_outcome=record.outcome.value if record else "",
                confirmed=_action_id(subject) in confirmed,
                scope=subject.scope or "",
                resource_id=subject.resource_id or "",
                basis=priciest.cost.basis,
                subscription_name=context.subscription_name(subscription),
                owner=next((v for e in tagged if (v := tag_value(e, context.owner_tag_keys))), ""),
                cost_center=next((v for e in tagged if (v := tag_value(e, context.cost_center_tag_keys))), ""),
                message=findings[0].message,
            )
        )
    rows.sort(key=lambda r: (-r.monthly, status_rank(r.status), r.type, r.name, r.scope))
    return rows


def totals(rows: Iterable[CostRow]) -> Totals:
    rows = list(rows)
    return Totals(
        found=sum((r.monthly for r in rows if r.status in (Status.FAIL, Status.FIXED)), ZERO),
        reclaimed=sum((r.monthly for r in rows if r.confirmed), ZERO),
        held=sum((r.monthly for r in rows if r.status is Status.HELD), ZERO),
        all_items=sum((r.monthly for r in rows), ZERO),
        items=len(rows),
        needs_decision=sum((r.monthly for r in rows if r.status is NEEDS_DECISION), ZERO),
    )


def _buckets(rows: list[CostRow], key: Callable[[CostRow], str], order: Callable[[Bucket], Any]) -> tuple[Bucket, ...]:
    grouped: dict[str, list[CostRow]] = {}
    for row in rows:
        grouped.setdefault(key(row) or NONE_LABEL, []).append(row)
    buckets = []
    for name, members in grouped.items():
        sums = totals(members)
        buckets.append(Bucket(name, sums.found, sums.reclaimed, sums.held, sums.items, sums.needs_decision))
    return tuple(sorted(buckets, key=order))


def _by_cost(bucket: Bucket) -> tuple[Decimal, str]:
    return (-(bucket.found + bucket.held + bucket.needs_decision), bucket.key)


def _version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(c), "") if c.isdigit() else (1, 0, c) for c in re.findall(r"\d+|\D+", version))


def _newest_first(buckets: tuple[Bucket, ...]) -> tuple[Bucket, ...]:
    """Versions in natural order, newest first (`v0.0.10` before `v0.0.9`); "(none)" last."""
    versions = sorted((b for b in buckets if b.key != NONE_LABEL), key=lambda b: _version_key(b.key), reverse=True)
    return (*versions, *(b for b in buckets if b.key == NONE_LABEL))


def cost_summary(result: RunResult) -> CostSummary:
    rows = cost_rows(result)
    if result.price_table is not None:
        currency: str | None = result.price_table.currency
    else:
        seen = Counter(r.currency for r in rows)
        currency = min(seen, key=lambda c: (-seen[c], c)) if seen else None
    main = [r for r in rows if r.currency == currency]
    others = sorted({r.currency for r in rows} - {currency})
    stage_rank = {stage: i for i, stage in enumerate(result.stages)}

    def stage_order(bucket: Bucket) -> tuple[int, str]:
        if bucket.key == NONE_LABEL:
            return (len(stage_rank) + 1, "")
        return (stage_rank.get(bucket.key, len(stage_rank)), bucket.key)

    return CostSummary(
        currency=currency,
        rows=tuple(rows),
        totals=totals(main),
        other_currencies={c: totals(r for r in rows if r.currency == c) for c in others},
        by_rule=_buckets(main, lambda r: r.rules[0], lambda b: (b.key == NONE_LABEL, b.key)),
        by_stage=_buckets(main, lambda r: r.stage, stage_order),
        by_version=_newest_first(_buckets(main, lambda r: r.version, lambda b: b.key)),
        by_type=_buckets(main, lambda r: r.type, _by_cost),
        by_subscription=_buckets(main, lambda r: r.billing_scope, _by_cost),
    )


def costs_document(result: RunResult) -> dict[str, object]:
    """The `costs` object of findings.json (the ledger keeps it too: `runs.costs`, the finance trend)."""
    summary = cost_summary(result)
    table = result.price_table
    totals = summary.totals
    document: dict[str, object] = {
        "currency": summary.currency,
        "found": money(totals.found),
        "reclaimed": money(totals.reclaimed),
        "held": money(totals.held),
        "needs_decision": money(totals.needs_decision),
        "items": totals.items,
        "per_year": {
            name: money(per_year(amount))
            for name, amount in (
                ("found", totals.found),
                ("reclaimed", totals.reclaimed),
                ("held", totals.held),
                ("needs_decision", totals.needs_decision),
            )
        },
        "needs_decision_items": [_decision_document(r) for r in summary.needs_decision()],
        "incomplete": incomplete_note(result) or None,
        "by_rule": {b.key: b.document() for b in summary.by_rule},
        "by_stage": {b.key: b.document() for b in summary.by_stage},
        "by_version": {b.key: b.document() for b in summary.by_version},
        "by_type": {b.key: b.document() for b in summary.by_type},
        "by_subscription": {b.key: b.document() for b in summary.by_subscription},
        "price_table": (
            None
            if table is None
            else {
                "source": table.source,
                "retrieved": table.retrieved,
                "region": table.region,
                "currency": table.currency,
            }
        ),
    }
    if summary.other_currencies:
        document["other_currencies"] = {c: t.document() for c, t in summary.other_currencies.items()}
    return document


def _decision_document(row: CostRow) -> dict[str, str]:
    return {
        "name": row.name,
        "type": row.type,
        "subscription": row.subscription,
        "subscription_name": row.subscription_name,
        "resource_group": row.resource_group,
        "rule": row.rule,
        "owner": row.owner,
        "cost_center": row.cost_center,
        "monthly": money(row.monthly),
        "currency": row.currency,
        "why": row.message,
        "resource_id": row.resource_id,
    }


__all__ = [
    "MONTHS_PER_YEAR",
    "NEEDS_DECISION",
    "SIZE_SKU_KEYS",
    "Bucket",
    "CostRow",
    "CostSummary",
    "Totals",
    "arm_parts",
    "cost_rows",
    "cost_summary",
    "costs_document",
    "has_costs",
    "money",
    "per_year",
]
