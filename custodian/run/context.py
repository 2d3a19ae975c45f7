"""What one run works with: its request, its tuning, and the provider adapters built from the config.

Clients are read-only on the wire unless the run is an applied enforce. `Providers` resolves the
secrets when it is built (before the run writes anything) and closes every client at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from azure.core.credentials import TokenCredential

from custodian.config import Config, ConfigError, GithubMode
from custodian.model import RunMode, Scope
from custodian.providers.azure.acr import AcrTokens
from custodian.providers.azure.arm import ArmResources
from custodian.providers.azure.blobs import BlobSettings
from custodian.providers.azure.clients import ArmClients, ArmSettings
from custodian.providers.azure.identity import NamedCredential
from custodian.providers.github.accounts import GithubAccountReader
from custodian.providers.github.actions import GithubAccountActions
from custodian.providers.github.app_auth import GithubAppCredentials, check_private_key
from custodian.providers.github.client import GithubSession, GithubSettings
from custodian.providers.wire import CallCounter
from custodian.run.azure_identity import arm_token_source, azure_credential, identity_settings

ACCOUNTS = "accounts"  # rules L1-L3, H1, N1, N2 on service accounts
REAPER = "reaper"  # rule L4 and orphans O1-O6 (when the config has a `reaper` section)


@dataclass(frozen=True)
class RunRequest:
    mode: RunMode
    apply: bool = False
    as_of: datetime | None = None
    parts: frozenset[str] = frozenset({ACCOUNTS, REAPER})
    #: only this version's accounts are judged and acted on (an event's hand-off); None: every version
    version: str | None = None
    #: what started the run, for the record: `schedule:<job>`, `event:<delivery id>`; None: a person
    trigger: str | None = None
    #: an applied run whose ledger's apply lock is held waits for it (True) or refuses at once (False)
    wait: bool = False
    #: with `wait`: give up (refused) after this many seconds; None: as long as the holder lives
    wait_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not self.parts or not self.parts <= {ACCOUNTS, REAPER}:
            raise ValueError(f"a run covers accounts and/or reaper, got {sorted(self.parts)}")
        if self.version is not None and self.parts != {ACCOUNTS}:
            raise ValueError("a version-scoped run covers the accounts part only")
        if self.apply and self.mode is not RunMode.ENFORCE:
            raise ValueError("only an enforce run can apply changes")
        if self.as_of is not None and self.mode is not RunMode.AUDIT:
            raise ValueError("--as-of is a read-only forecast: use it with audit")

    @property
    def applying(self) -> bool:
        return self.mode is RunMode.ENFORCE and self.apply


@dataclass(frozen=True)
class RunTuning:
    """How patient a run is with providers (tests and benchmarks shorten it; the defaults suit Azure)."""

    c7n_retry_total: int | None = None  # None: the config's `azure.retries`
    c7n_retry_backoff_s: float | None = None  # None: C7N_RETRY_BACKOFF_S (c7n-azure's own waits 45 s)
    blob: BlobSettings = field(default_factory=BlobSettings)
    confirm_timeout_s: float = 300.0  # how long an operation is polled before it is UNCONFIRMED
    poll_cap_s: float = 10.0
    arm_polling_interval_s: float = 1.0
    github_cache: bool = True  # GitHub facts read once and conditional reads, kept in the ledger


def allowed_scopes(config: Config) -> frozenset[Scope]:
    enterprise = config.github.mode is GithubMode.ENTERPRISE_SERVER
    orgs = {Scope.github(org, enterprise=enterprise) for org in config.enforce.allowed_orgs}
    return frozenset(orgs | {Scope.subscription(s) for s in config.enforce.allowed_subscriptions})


def github_app_credentials(config: Config) -> GithubAppCredentials | None:
    """The App's id and key (read now; a key that is not an RSA private key is a ConfigError)."""
    app = config.github.app
    if app is None:
        return None
    pem = app.private_key.resolve()
    try:
        check_private_key(pem)
    except ValueError as exc:
        raise ConfigError([f"github.app.private_key: {exc}"]) from None
    return GithubAppCredentials(app.app_id, pem, app.installation_id)


class Providers:
    """The provider adapters of one run (read-only unless applying)."""

    def __init__(self, config: Config, *, read_only: bool, counter: CallCounter, tuning: RunTuning) -> None:
        self.config = config
        self.counter = counter
        self.github = GithubSession(
            GithubSettings(
                base_url=config.github.base_url,
                token=config.github.token.resolve() if config.github.token else "",
                app=github_app_credentials(config),
                org=config.github.org,
                per_page=config.github.per_page,
                api=config.github.api,
                read_only=read_only,
                enterprise=config.github.mode is GithubMode.ENTERPRISE_SERVER,
            ),
            counter,
        )
        self.identity = identity_settings(config)  # secrets read now: a missing one is a ConfigError naming it
        self.credential = self._credential()
        self.arm_tokens = arm_token_source(config, self.identity, self.credential)  # c7n's bearer tokens
        self.arm = ArmClients(
            ArmSettings(
                endpoint=config.azure.arm_endpoint,
                credential=self.credential,
                ca_bundle=str(config.azure.ca_bundle) if config.azure.ca_bundle else None,
                read_only=read_only,
                polling_interval_s=tuning.arm_polling_interval_s,
                connection_timeout_s=config.azure.connect_timeout.total_seconds(),
                read_timeout_s=config.azure.read_timeout.total_seconds(),
                retry_total=config.azure.retries,
            ),
            counter,
        )
        self.resources = ArmResources(self.arm)
        self.registries = [
            AcrTokens(self.arm, r.subscription, r.resource_group, r.name, r.login_server)
            for r in config.azure.registries
        ]
        self.github_reader = GithubAccountReader(self.github, config.github.mode.value)
        self.github_actions = GithubAccountActions(self.github)

    def _credential(self) -> NamedCredential:
        return azure_credential(self.identity)  # the one credential of the run (azure.credential)

    def credential_factory(self) -> Callable[[], TokenCredential]:
        return lambda: self.credential

    def close(self) -> None:
        self.github.close()
        self.arm.close()
        self.credential.close()
