"""The configuration's sections and the whole `Config` (pydantic v2, unknown keys rejected)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from custodian.config.collecting import CollectConfig
from custodian.config.ledger_url import ledger_url_problem
from custodian.config.notifications import NotificationsConfig
from custodian.config.reporting import ReportsConfig as ReportsConfig  # re-exported (the reports section)
from custodian.config.schedule import ScheduleConfig, ServiceConfig
from custodian.config.values import (
    Duration,
    ExistingDirectory,
    ExistingFile,
    Mode,
    PositiveDuration,
    SecretRef,
    Strict,
    StrList,
)
from custodian.rules.naming import DEFAULT_VERSION_PATTERN, AccountNamer, TemplateError
from custodian.rules.reaping import mark_grace_problem


def _mark_grace(grace: timedelta) -> timedelta:
    problem = mark_grace_problem(grace)  # the run's own check (`ReapSettings`), so both refuse alike
    if problem:
        raise ValueError(problem)
    return grace


MarkGrace = Annotated[PositiveDuration, AfterValidator(_mark_grace)]


class GithubMode(StrEnum):
    ENTERPRISE_SERVER = "enterprise-server"
    ORGANIZATION = "organization"


class GithubAppConfig(Strict):
    """A GitHub App: the custodian signs a JWT with its key and exchanges it for installation tokens."""

    app_id: int = Field(ge=1, description="the App's id (its settings page, 'App ID')")
    private_key: SecretRef = Field(description="where the App's private key (PEM) lives: {file: ...} or {env: ...}")
    installation_id: int | None = Field(
        default=None, ge=1, description="the installation on the org; when absent, found by GET /app/installations"
    )


class GithubConfig(Strict):
    mode: GithubMode = Field(description="enterprise-server (site-admin API) or organization (github.com, App)")
    base_url: str = Field(default="https://api.github.com", description="REST base URL; GHES ends in /api/v3")
    org: str
    release_repos: StrList = Field(min_length=1, description="owner/name repositories defining the timeline")
    production_environment: str = "production"
    token: SecretRef | None = Field(
        default=None,
        description="classic PAT (enterprise-server) or an installation token minted elsewhere (organization)",
    )
    app: GithubAppConfig | None = Field(default=None, description="authenticate as a GitHub App (organization mode)")
    per_page: int = Field(default=100, ge=1, le=100)
    api: Literal["graphql", "rest"] = Field(
        default="graphql", description="read the release timeline through GraphQL (batched) or REST"
    )

    @model_validator(mode="after")
    def _one_credential(self) -> GithubConfig:
        if (self.token is None) == (self.app is None):
            raise ValueError(
                "give exactly one of 'token' (a site admin's classic PAT, or an installation token) "
                "or 'app' (app_id, private_key, installation_id)"
            )
        if self.app is not None and self.mode is GithubMode.ENTERPRISE_SERVER:
            raise ValueError(
                "'app' needs mode: organization (the enterprise-server site-admin API accepts only a site "
                "administrator's classic PAT: use 'token')"
            )
        return self

    @field_validator("release_repos")
    @classmethod
    def _repos(cls, repos: list[str]) -> list[str]:
        for repo in repos:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
                raise ValueError(f"'{repo}' is not owner/name")
        return repos

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not re.match(r"^https?://", url):
            raise ValueError(f"'{url}' is not an http(s) URL")
        return url.rstrip("/")


class RegistryKind(StrEnum):
    SECURE = "secure"
    STANDARD = "standard"


class RegistryConfig(Strict):
    stage: str
    kind: RegistryKind
    subscription: str
    resource_group: str
    name: str = Field(pattern=r"^[A-Za-z0-9]{5,50}$", description="ACR registry resource name")
    login_server: str | None = None


class AzureCredentialKind(StrEnum):
    DEFAULT = "default"
    MANAGED_IDENTITY = "managed-identity"
    WORKLOAD_IDENTITY = "workload-identity"
    CLIENT_SECRET = "client-secret"
    AZURE_CLI = "azure-cli"
    ACCESS_TOKEN = "access-token"


_K = AzureCredentialKind
_ENTRA = {"authority_host", "instance_discovery"}
# Per kind: the keys it needs, and the keys it may take; any other key given is a mistake.
_CREDENTIAL_KEYS: dict[AzureCredentialKind, tuple[set[str], set[str]]] = {
    _K.DEFAULT: (set(), {"client_id", "authority_host"}),
    _K.MANAGED_IDENTITY: (set(), {"client_id"}),
    _K.WORKLOAD_IDENTITY: (set(), {"tenant_id", "client_id", "token_file", *_ENTRA}),
    _K.CLIENT_SECRET: ({"tenant_id", "client_id", "client_secret"}, _ENTRA),
    _K.AZURE_CLI: (set(), {"tenant_id"}),
    _K.ACCESS_TOKEN: ({"access_token"}, set()),
}


class AzureCredentialConfig(Strict):
    """The one azure-identity credential of the custodian: the SDK clients use it, and c7n gets tokens from it."""

    kind: AzureCredentialKind = Field(default=_K.DEFAULT, description="which azure-identity credential")
    tenant_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+$", description="the Entra tenant id")
    client_id: str | None = Field(
        default=None, description="the app (client) id; managed-identity/default: a user-assigned identity's"
    )
    client_secret: SecretRef | None = Field(default=None, description="client-secret: where the secret lives")
    token_file: Path | None = Field(
        default=None, description="workload-identity: the federated token file (default: $AZURE_FEDERATED_TOKEN_FILE)"
    )
    access_token: SecretRef | None = Field(default=None, description="access-token: where a bearer token for ARM lives")
    authority_host: str | None = Field(
        default=None, description="the Entra authority of the cloud, e.g. https://login.microsoftonline.us"
    )
    instance_discovery: bool = Field(
        default=True, description="false for an authority Microsoft does not know (Azure Stack Hub, ADFS, the sandbox)"
    )

    @field_validator("authority_host")
    @classmethod
    def _authority(cls, url: str | None) -> str | None:
        if url is None:
            return None
        url = url if "://" in url else "https://" + url
        if not re.fullmatch(r"https://[^/\s]+/?", url):
            raise ValueError(f"'{url}' must be an https:// host, e.g. https://login.microsoftonline.us")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _keys_of_kind(self) -> AzureCredentialConfig:
        needed, optional = _CREDENTIAL_KEYS[self.kind]
        given = {key for key in self.model_fields_set if getattr(self, key) is not None} - {"kind"}
        problems = [f"kind {self.kind.value} needs '{key}'" for key in sorted(needed - given)]
        problems += [f"'{key}' is not used by kind {self.kind.value}" for key in sorted(given - needed - optional)]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class AzureConfig(Strict):
    arm_endpoint: str = Field(default="https://management.azure.com", description="ARM base URL (sovereign, Stack)")
    ca_bundle: ExistingFile | None = Field(
        default=None, description="CA bundle for ARM and the authority (private CAs); the file must exist"
    )
    subscriptions: StrList = Field(min_length=1)
    access_token: SecretRef | None = Field(
        default=None, description="shorthand for credential: {kind: access-token, access_token: ...}"
    )
    credential: AzureCredentialConfig | None = Field(
        default=None, description="the azure-identity credential (default: kind default, DefaultAzureCredential)"
    )
    registries: list[RegistryConfig] = Field(default_factory=list)
    connect_timeout: PositiveDuration = Field(
        default=timedelta(seconds=10), description="per HTTP call to ARM and storage (c7n children included)"
    )
    read_timeout: PositiveDuration = Field(
        default=timedelta(seconds=60), description="per HTTP call: the longest wait for an answer"
    )
    retries: int = Field(default=3, ge=0, le=10, description="retries per ARM/storage call (c7n children included)")

    @model_validator(mode="after")
    def _one_credential(self) -> AzureConfig:
        if self.access_token is not None and self.credential is not None:
            raise ValueError("give 'credential' or its shorthand 'access_token', not both")
        return self

    def identity(self) -> AzureCredentialConfig:
        """The effective credential: `credential`, else `access_token` (kind access-token), else kind default."""
        if self.credential is not None:
            return self.credential
        if self.access_token is not None:
            return AzureCredentialConfig(kind=_K.ACCESS_TOKEN, access_token=self.access_token)
        return AzureCredentialConfig()

    @field_validator("arm_endpoint")
    @classmethod
    def _endpoint(cls, url: str) -> str:
        if not url.startswith("https://"):
            raise ValueError(f"'{url}' must be an https:// URL (ARM bearer tokens are never sent over http)")
        return url.rstrip("/")


class NamingConfig(Strict):
    account: str = "{version}-{stage}-{kind}-sa"
    stage_tag: str = "{version}-{stage}"
    prod_tag: str = "{version}"
    version_pattern: str = DEFAULT_VERSION_PATTERN
    version_tag_key: str = "release-version"
    stage_tag_key: str = "release-stage"

    @field_validator("version_pattern")
    @classmethod
    def _regex(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return pattern


class LifecycleConfig(Strict):
    handoff_grace: Duration = Field(default=timedelta(hours=1), description="L1 grace after the next stage starts")
    prod_revocation_grace: Duration = Field(default=timedelta(hours=1), description="L2 grace after prod success")
    retention: Duration = Field(default=timedelta(hours=24), description="L3: delete accounts this long after prod")
    max_credential_lifetime: Duration = Field(default=timedelta(days=30), description="H1 limit")


class HoldsConfig(Strict):
    max_duration: Duration = Field(default=timedelta(days=14))


class EnforceConfig(Strict):
    allowed_subscriptions: StrList = Field(default_factory=list)
    allowed_orgs: StrList = Field(default_factory=list)
    max_actions_per_run: int = Field(default=50, ge=1)
    max_actions_percent: float = Field(default=50.0, gt=0, le=100)


class StorageAccountConfig(Strict):
    """A storage account the blob sweep reads (data plane): by connection string or account URL."""

    name: str = Field(description="the account name, as in reports")
    subscription: str | None = Field(
        default=None,
        description="the subscription it belongs to (the allowlist's scope); when absent, resolved from ARM",
    )
    connection_string: SecretRef | None = Field(default=None, description="where the connection string lives")
    account_url: str | None = Field(default=None, description="https://<name>.blob.core.windows.net (Entra ID auth)")
    containers: list[str] | None = Field(default=None, description="containers to sweep; all when absent")
    ephemeral_containers: list[str] = Field(default_factory=list, description="containers whose old blobs are O6")

    @model_validator(mode="after")
    def _one_endpoint(self) -> StorageAccountConfig:
        if (self.connection_string is None) == (self.account_url is None):
            raise ValueError("give exactly one of 'connection_string' or 'account_url'")
        return self


class ReaperConfig(Strict):
    """Rule L4 (QA/UAT leftovers after prod) and orphans O1-O6, reaped in two phases (mark, then delete)."""

    policies_dir: ExistingDirectory | None = Field(
        default=None, description="Cloud Custodian policy files (default: the policies/ shipped with release-custodian)"
    )
    mark_grace: MarkGrace = Field(description="time between marking and deleting; required, at least 1m")
    leftover_grace: Duration = Field(default=timedelta(hours=24), description="L4: after the production success")
    hold_tag: str = Field(default="custodian-hold", description="a resource or blob with this tag is never touched")
    mark_tag: str = Field(default="custodian-reap", description="tag holding the planned deletion (mark-for-op)")
    orphan_disk_min_age: PositiveDuration = Field(default=timedelta(days=30), description="O1")
    stopped_vm_min_age: PositiveDuration = Field(default=timedelta(days=14), description="O5")
    stale_blob_age: PositiveDuration = Field(default=timedelta(days=7), description="O6, from last-modified")
    storage_accounts: list[StorageAccountConfig] = Field(default_factory=list)
    price_table: ExistingFile | None = Field(default=None, description="a price table file overriding the shipped one")
    c7n_timeout: PositiveDuration = Field(default=timedelta(minutes=15), description="per c7n policy run")


class LedgerConfig(Strict):
    url: str = Field(
        default="sqlite:///.custodian/ledger.sqlite",
        description="sqlite:///PATH (a file it can create) or postgresql+psycopg://USER@HOST/DB",
    )
    lock_ttl: PositiveDuration = Field(
        default=timedelta(seconds=60),
        description="the apply lock's expiry without a heartbeat (renewed every third of it): a killed "
        "run on another host blocks the next one for at most this long (on its own host, not at all)",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        problem = ledger_url_problem(url)
        if problem:
            raise ValueError(problem)
        return url


class Config(Strict):
    """release-custodian configuration (YAML)."""

    github: GithubConfig
    azure: AzureConfig
    stages: list[str] = Field(default_factory=lambda: ["qa", "uat", "prod"], min_length=2)
    naming: NamingConfig = Field(default_factory=NamingConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    holds: HoldsConfig = Field(default_factory=HoldsConfig)
    mode: Mode = Mode.AUDIT
    enforce: EnforceConfig = Field(default_factory=EnforceConfig)
    reaper: ReaperConfig | None = Field(default=None, description="rule L4 and orphans; off when absent")
    notifications: NotificationsConfig | None = Field(
        default=None, description="owners hear before deletions (and deletions wait for it); off when absent"
    )
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    collect: CollectConfig = Field(
        default_factory=CollectConfig, description="when a shrunken listing is read a second time"
    )
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)

    @field_validator("stages")
    @classmethod
    def _stages(cls, stages: list[str]) -> list[str]:
        if len(set(stages)) != len(stages):
            raise ValueError("stages must be unique")
        for stage in stages:
            if not re.fullmatch(r"[a-z][a-z0-9]*", stage):
                raise ValueError(f"stage '{stage}' must be lower-case letters and digits")
        return stages

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        problems = []
        for index, registry in enumerate(self.azure.registries):
            if registry.stage not in self.stages:
                problems.append(f"azure.registries[{index}].stage: '{registry.stage}' is not one of {self.stages}")
            if registry.subscription not in self.azure.subscriptions:
                problems.append(
                    f"azure.registries[{index}].subscription: '{registry.subscription}' is not in azure.subscriptions"
                )
        try:
            self.namer()
        except TemplateError as exc:
            problems.append(f"naming: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def namer(self) -> AccountNamer:
        return AccountNamer(
            tuple(self.stages),
            account_template=self.naming.account,
            stage_tag_template=self.naming.stage_tag,
            prod_tag_template=self.naming.prod_tag,
            version_pattern=self.naming.version_pattern,
        )

    def digest(self) -> str:
        """A stable digest of the effective configuration (no secrets are in it)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]
