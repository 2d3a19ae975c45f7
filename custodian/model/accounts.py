"""Service accounts (GitHub machine accounts, ACR tokens) and their credentials."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from custodian.model.vocabulary import Provider, ResourceKind, Scope


class AccountKind(StrEnum):
    """The `{kind}` of a service-account name: a GitHub machine account or an ACR token."""

    GH = "gh"
    ACR = "acr"

    @property
    def resource_kind(self) -> ResourceKind:
        return ResourceKind.GITHUB_ACCOUNT if self is AccountKind.GH else ResourceKind.ACR_TOKEN


class CredentialKind(StrEnum):
    IMPERSONATION_TOKEN = "impersonation_token"  # GHES site-admin OAuth token of a user
    PAT_GRANT = "pat_grant"  # org fine-grained PAT grant (github.com)
    SSH_KEY = "ssh_key"
    ACR_PASSWORD = "acr_password"


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
    provider field that may carry the logical name (GitHub's user `name`). `unit` is what it was
    collected with (the org, or the registry's resource id): a collection error of that unit blocks
    acting on it. `scope` is where the allowlist and the caps count it.
    """

    provider: Provider
    kind: AccountKind
    provider_name: str
    unit: str
    scope: Scope
    enabled: bool
    credentials: tuple[Credential, ...] = ()
    resource_id: str | None = None
    display_name: str | None = None
    location: str | None = None  # e.g. the registry login server, for people reading reports
    snapshot: Mapping[str, object] = field(default_factory=dict)  # JSON-able state, never secrets

    @property
    def resource_kind(self) -> ResourceKind:
        return self.kind.resource_kind

    @property
    def key(self) -> str:
        return f"{self.unit}|{self.provider_name.lower()}"
