"""The typed vocabulary every layer shares: inventory facts, holds, findings and actions.

Plain frozen dataclasses and enums; no SDK object and nothing of ours is imported here
(import-linter enforces that). Collectors produce an `Inventory`; rules turn it, the holds and a
time into `Finding`s; the planner turns findings into `Action`s; the ledger and reports store them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Provider(StrEnum):
    GITHUB = "github"
    AZURE = "azure"


class AccountKind(StrEnum):
    """The `{kind}` of a service-account name: a GitHub machine account or an ACR token."""

    GH = "gh"
    ACR = "acr"


class CredentialKind(StrEnum):
    IMPERSONATION_TOKEN = "impersonation_token"  # GHES site-admin OAuth token of a user
    PAT_GRANT = "pat_grant"  # org fine-grained PAT grant (github.com)
    SSH_KEY = "ssh_key"
    ACR_PASSWORD = "acr_password"


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    HELD = "HELD"
    ERROR = "ERROR"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


# -- release timeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageStart:
    """Stage `stage` of `version` started at `at` (its tag's date); `source` says what proved it."""

    version: str
    stage: str
    at: datetime
    source: str  # e.g. "tag v0.0.1-uat (commit date)", "release v0.0.1"


@dataclass(frozen=True)
class DeploymentFact:
    """One production deployment of a version and its statuses (oldest first)."""

    version: str
    deployment_id: int
    environment: str
    created_at: datetime
    statuses: tuple[tuple[str, datetime], ...]

    @property
    def first_success_at(self) -> datetime | None:
        successes = [at for state, at in self.statuses if state == "success"]
        return min(successes) if successes else None


@dataclass(frozen=True)
class ReleaseTimeline:
    """What the repositories say about every version: stage starts and production deployments."""

    stages: tuple[str, ...]
    starts: tuple[StageStart, ...] = ()
    deployments: tuple[DeploymentFact, ...] = ()

    def versions(self) -> frozenset[str]:
        return frozenset(s.version for s in self.starts) | frozenset(d.version for d in self.deployments)

    def stage_started(self, version: str, stage: str) -> StageStart | None:
        """The earliest evidence that `stage` of `version` started, or None."""
        matches = [s for s in self.starts if s.version == version and s.stage == stage]
        return min(matches, key=lambda s: s.at) if matches else None

    def next_stage(self, stage: str) -> str | None:
        index = self.stages.index(stage)
        return self.stages[index + 1] if index + 1 < len(self.stages) else None

    def prod_success(self, version: str) -> DeploymentFact | None:
        """The production deployment of `version` with the earliest `success` status, or None."""
        succeeded = [d for d in self.deployments if d.version == version and d.first_success_at is not None]
        return min(succeeded, key=lambda d: d.first_success_at or d.created_at) if succeeded else None


# -- service accounts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """Something that authenticates as an account. `working` is False once revoked or expired."""

    kind: CredentialKind
    credential_id: str
    name: str
    created_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None = None

    def working_at(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class ServiceAccount:
    """One provider object that is (or looks like) a release service account.

    `provider_name` is the name on the provider (dots replaced by hyphens); `display_name` is a
    provider field that may carry the logical name (GitHub's user `name`); `scope` is where it lives
    (the org, or the registry resource id) and decides which collection error blocks acting on it.
    """

    provider: Provider
    kind: AccountKind
    provider_name: str
    scope: str
    enabled: bool
    credentials: tuple[Credential, ...] = ()
    resource_id: str | None = None
    display_name: str | None = None
    location: str | None = None  # e.g. the registry login server, for people reading reports
    snapshot: Mapping[str, object] = field(default_factory=dict)  # JSON-able state, never secrets


@dataclass(frozen=True)
class CollectionError:
    """A collection that failed or was throttled out: its scope is not known completely."""

    provider: Provider
    scope: str
    message: str


@dataclass(frozen=True)
class Inventory:
    collected_at: datetime
    timeline: ReleaseTimeline
    accounts: tuple[ServiceAccount, ...] = ()
    errors: tuple[CollectionError, ...] = ()

    def scope_complete(self, scope: str) -> bool:
        return not any(e.scope == scope for e in self.errors)


# -- holds -----------------------------------------------------------------------------------------


class HoldTarget(StrEnum):
    VERSION = "version"
    ACCOUNT = "account"


@dataclass(frozen=True)
class Hold:
    """A manager's hold: protects a version's accounts (or one account) until `until` or release."""

    hold_id: str
    target_type: HoldTarget
    target: str
    reason: str
    placed_by: str
    placed_at: datetime
    until: datetime
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None

    def active_at(self, now: datetime) -> bool:
        return self.released_at is None and self.placed_at <= now < self.until


# -- findings and actions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What a finding is about."""

    provider: str
    kind: str
    provider_name: str
    logical_name: str | None = None
    version: str | None = None
    stage: str | None = None
    resource_id: str | None = None
    scope: str | None = None


@dataclass(frozen=True)
class Cost:
    """An estimated monthly cost of a resource, with how it was estimated (for finance readers)."""

    monthly: Decimal
    currency: str
    basis: str  # e.g. "Standard_B2s 730h x 0.0416/h (price table 2026-11-01, eastus)"


@dataclass(frozen=True)
class Finding:
    rule: str
    status: Status
    severity: Severity
    subject: Subject
    message: str
    evidence: Mapping[str, str | None] = field(default_factory=dict)
    remediation: str = ""
    cost: Cost | None = None  # reaper findings (L4, O1-O6): what the object costs per month


class ActionKind(StrEnum):
    DISABLE = "disable"  # suspend a GitHub user / set an ACR token's status to disabled
    REMOVE_CREDENTIALS = "remove_credentials"  # delete ACR passwords
    REVOKE_PAT_GRANTS = "revoke_pat_grants"
    DELETE_IMPERSONATION_TOKENS = "delete_impersonation_tokens"
    DELETE_SSH_KEYS = "delete_ssh_keys"
    REMOVE_MEMBERSHIP = "remove_membership"
    DELETE_ACCOUNT = "delete_account"
    MARK = "mark"  # reaper phase 1: tag a resource or blob with its planned deletion time
    DELETE_RESOURCE = "delete_resource"  # reaper phase 2: delete a marked resource or blob once due


@dataclass(frozen=True)
class Action:
    """One change the planner wants; `key` identifies it across runs (resume without acting twice)."""

    kind: ActionKind
    subject: Subject
    rule: str
    reason: str

    @property
    def key(self) -> str:
        """Unique per target: the resource id where there is one (names repeat across groups and types)."""
        target = (self.subject.resource_id or "").lower() or self.subject.provider_name
        return f"{self.kind.value}:{self.subject.provider}:{self.subject.scope}:{target}"


class ActionOutcome(StrEnum):
    PLANNED = "planned"  # dry run: what --apply would do
    INTENT = "intent"  # journaled before acting
    DONE = "done"  # acted and confirmed by a re-read
    UNCONFIRMED = "unconfirmed"  # acted but the re-read does not show the change (yet)
    FAILED = "failed"
    SKIPPED = "skipped"  # refused: held, outside allowlist, blocked scope, cap exceeded


@dataclass(frozen=True)
class ActionRecord:
    """An action and what became of it, as journaled and reported."""

    action: Action
    outcome: ActionOutcome
    at: datetime
    detail: str = ""
    snapshot: Mapping[str, object] = field(default_factory=dict)


class RunMode(StrEnum):
    AUDIT = "audit"
    ENFORCE = "enforce"


@dataclass(frozen=True)
class RunInfo:
    """The header of a run, as in findings.json's `run` object."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None
    mode: RunMode
    applied: bool
    config_digest: str
    tool_version: str
    as_of: datetime | None = None  # forecast time for `audit --as-of`


@dataclass(frozen=True)
class PriceTableInfo:
    """Where a run's cost estimates come from (reports show it beside every cost figure)."""

    source: str
    retrieved: str  # the date the prices were compiled, e.g. "2026-11-26"
    region: str
    currency: str


@dataclass(frozen=True)
class RunResult:
    """Everything a report is rendered from."""

    run: RunInfo
    findings: tuple[Finding, ...]
    actions: tuple[ActionRecord, ...] = ()
    holds: tuple[Hold, ...] = ()
    stages: tuple[str, ...] = ("qa", "uat", "prod")
    price_table: PriceTableInfo | None = None  # set when the run estimated costs (the reaper ran)

    def counts(self) -> dict[str, int]:
        out = {status.value: 0 for status in Status}
        for finding in self.findings:
            out[finding.status.value] += 1
        return out
