"""What a run hands its reports beside its findings (`RunResult.context`): the registered rules, the
configured tag keys, the subscriptions' display names (read from ARM, read-only) and the cost
totals of earlier runs from the ledger (the trend of found and reclaimed).

Reports stay pure views: everything they show that is not this run's own comes in here. None of it
decides anything: a display name that cannot be read leaves the subscription id in the reports.
"""

from __future__ import annotations

from collections.abc import Sequence

from custodian.config import Config
from custodian.ledger.store import Ledger, RunRecord
from custodian.model import CostPoint, Finding, ReportContext, RuleInfo
from custodian.providers.azure.subscriptions import subscription_names
from custodian.reports import cost_point
from custodian.reports.labels import arm_parts
from custodian.rules.registry import RULES
from custodian.run.context import Providers


def rule_infos() -> tuple[RuleInfo, ...]:
    """Every registered rule, as reports describe it."""
    return tuple(RuleInfo(r.id, r.title, r.checks, r.severity, r.remediation, r.purpose.value) for r in RULES)


def cost_points(records: Sequence[RunRecord]) -> list[CostPoint]:
    """The cost points of finished, priced runs that are no forecast, in the order given."""
    points = []
    for record in records:
        info = record.info
        if not record.finished:
            continue
        point = cost_point(
            info.run_id, info.started_at, info.mode.value, info.applied, record.costs, forecast=info.as_of is not None
        )
        if point is not None:
            points.append(point)
    return points


def cost_history(ledger: Ledger, runs: int) -> tuple[CostPoint, ...]:
    """The cost totals of the last `runs` finished runs, oldest first (forecasts and unpriced runs left out)."""
    # the running run is among the newest: not finished
    return tuple(cost_points(list(reversed(ledger.list_runs(runs + 1))))[-runs:])


def priced_subscriptions(findings: Sequence[Finding]) -> set[str]:
    """The subscriptions the run's priced findings are in (whose names the cost tables show)."""
    out = set()
    for finding in findings:
        if finding.cost is not None:
            subscription, _group = arm_parts(finding.subject.resource_id, finding.subject.scope)
            if subscription:
                out.add(subscription.lower())
    return out


def report_context(
    config: Config, ledger: Ledger, providers: Providers, findings: Sequence[Finding], *, priced: bool
) -> ReportContext:
    """The context of this run's reports. A priced run (the reaper ran) reads the ledger's earlier cost
    totals, and ARM's display names of the subscriptions its priced findings are in."""
    wanted = priced_subscriptions(findings) & {s.lower() for s in config.azure.subscriptions}
    names: dict[str, str] = {}
    if wanted:
        try:
            names = subscription_names(providers.arm.settings, providers.counter, wanted)
        except Exception:  # noqa: BLE001 - a label: the reports show the subscription id instead
            names = {}
    reports = config.reports
    return ReportContext(
        subscription_names=names,
        owner_tag_keys=tuple(reports.owner_tag_keys),
        cost_center_tag_keys=tuple(reports.cost_center_tag_keys),
        history=cost_history(ledger, reports.trend_runs) if priced else (),
        rules=rule_infos(),
        sarif_artifact=reports.sarif_artifact,
    )
