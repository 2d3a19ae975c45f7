"""The typed vocabulary every layer shares: scopes and kinds, the timeline, accounts, Azure
resources and blobs, holds, findings, actions and runs.

Plain frozen dataclasses and enums; no SDK object and nothing of ours outside this package is
imported here (import-linter enforces that). Collectors produce an `Inventory`; rules turn it, the
holds and a time into findings and proposed actions; the engine plans, gates and executes them;
the ledger and reports store and show them.
"""

from custodian.model.accounts import AccountKind, Credential, CredentialKind, ServiceAccount
from custodian.model.actions import Action, ActionKind, ActionOutcome, ActionRecord, Verdict
from custodian.model.azure import (
    Attachment,
    AzureResource,
    Blob,
    Cascade,
    DeleteOption,
    ResourceFacts,
    blob_unit,
    id_key,
)
from custodian.model.findings import Cost, Finding, Hold, HoldTarget, Severity, Status, Subject
from custodian.model.reporting import (
    DEFAULT_COST_CENTER_TAG_KEYS,
    DEFAULT_OWNER_TAG_KEYS,
    DEFAULT_SARIF_ARTIFACT,
    CostPoint,
    ReportContext,
    RuleInfo,
)
from custodian.model.run import (
    TIMELINE_UNIT,
    CollectionError,
    Inventory,
    PriceTableInfo,
    RunInfo,
    RunMode,
    RunResult,
)
from custodian.model.timeline import DeploymentFact, ReleaseTimeline, StageStart, StartEvidence
from custodian.model.vocabulary import ARM_KINDS, ARM_TYPES, Provider, ResourceKind, Scope, ScopeKind, Tags

__all__ = [
    "ARM_KINDS",
    "ARM_TYPES",
    "DEFAULT_COST_CENTER_TAG_KEYS",
    "DEFAULT_OWNER_TAG_KEYS",
    "DEFAULT_SARIF_ARTIFACT",
    "TIMELINE_UNIT",
    "AccountKind",
    "Action",
    "ActionKind",
    "ActionOutcome",
    "ActionRecord",
    "Attachment",
    "AzureResource",
    "Blob",
    "Cascade",
    "CollectionError",
    "Cost",
    "CostPoint",
    "Credential",
    "CredentialKind",
    "DeleteOption",
    "DeploymentFact",
    "Finding",
    "Hold",
    "HoldTarget",
    "Inventory",
    "PriceTableInfo",
    "Provider",
    "ReleaseTimeline",
    "ReportContext",
    "ResourceFacts",
    "ResourceKind",
    "RuleInfo",
    "RunInfo",
    "RunMode",
    "RunResult",
    "Scope",
    "ScopeKind",
    "ServiceAccount",
    "Severity",
    "StageStart",
    "StartEvidence",
    "Status",
    "Subject",
    "Tags",
    "Verdict",
    "blob_unit",
    "id_key",
]
