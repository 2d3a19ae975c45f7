"""What reports show beside a run's own findings: labels from the configuration and the cloud, the
registered rules, and the cost totals of earlier runs (the trend), all handed in by the run.

Reports are pure views: they read the ledger, the configuration and the rule registry through
this `ReportContext` only (`RunResult.context`), which the run fills in before writing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from custodian.model.findings import Severity

DEFAULT_OWNER_TAG_KEYS: tuple[str, ...] = ("owner", "created-by")
DEFAULT_COST_CENTER_TAG_KEYS: tuple[str, ...] = ("cost-center", "costcenter")
DEFAULT_SARIF_ARTIFACT = "release-custodian.yaml"


@dataclass(frozen=True)
class RuleInfo:
    """A registered rule as reports describe it (SARIF's rule descriptors, OCSF's finding titles)."""

    id: str
    title: str
    checks: str
    severity: Severity
    remediation: str
    purpose: str  # revoke | delete | report | guard


@dataclass(frozen=True)
class CostPoint:
    """One run's cost totals per month, as the ledger keeps them (`runs.costs`)."""

    run_id: str
    started_at: datetime
    mode: str
    applied: bool
    currency: str | None
    found: Decimal
    reclaimed: Decimal
    held: Decimal
    needs_decision: Decimal
    items: int = 0
    complete: bool = True  # False: some scopes were not inventoried, the totals miss what was not seen


@dataclass(frozen=True)
class ReportContext:
    """Labels and history for the reports of one run (all optional: a bare `RunResult` renders too).

    - `subscription_names`: subscription id (lower case) -> display name, as ARM lists them;
    - `owner_tag_keys`, `cost_center_tag_keys`: the tag keys read (first present wins, case-insensitive)
      for a resource's owner and cost centre (`reports.owner_tag_keys`, `reports.cost_center_tag_keys`);
    - `history`: earlier runs' cost totals, oldest first (forecasts and unpriced runs left out);
    - `rules`: the registered rules, in registry order;
    - `sarif_artifact`: the repository-relative file every SARIF result is anchored to.
    """

    subscription_names: Mapping[str, str] = field(default_factory=dict)
    owner_tag_keys: tuple[str, ...] = DEFAULT_OWNER_TAG_KEYS
    cost_center_tag_keys: tuple[str, ...] = DEFAULT_COST_CENTER_TAG_KEYS
    history: tuple[CostPoint, ...] = ()
    rules: tuple[RuleInfo, ...] = ()
    sarif_artifact: str = DEFAULT_SARIF_ARTIFACT

    def subscription_name(self, subscription: str) -> str:
        return self.subscription_names.get(subscription.lower(), "") if subscription else ""
