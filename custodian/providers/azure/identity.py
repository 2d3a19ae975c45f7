"""The one Azure credential of a run (azure-identity), and the ARM bearer tokens minted from it for c7n.

`build_credential(IdentitySettings)` is the only place a credential is made: a static token
(`access-token`), `ClientSecretCredential`, `WorkloadIdentityCredential` (a federated token file),
`ManagedIdentityCredential`, `AzureCliCredential` or `DefaultAzureCredential`, with the authority host
of the cloud (`authority=`, sovereign clouds and private authorities; instance discovery can be
turned off) and the CA bundle. The credential is wrapped so a failed token request raises
`ClientAuthenticationError` naming the credential and Entra's reason in one line (no secret in it).

`ArmTokenSource` mints a bearer token for the ARM audience (`<arm_endpoint>/.default`) for a process
that cannot hold a credential (Cloud Custodian's child): the credential's cached token when it lives
long enough, otherwise a fresh one from a new credential of the same settings (an empty cache).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError

from custodian.providers.azure.clients import StaticTokenCredential

__all__ = ["KINDS", "ArmTokenSource", "BearerToken", "IdentitySettings", "build_credential"]

# what AKS's workload-identity webhook injects, and azure-identity reads when a value is not given
_WORKLOAD_ENV = {
    "tenant_id": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
    "token_file": "AZURE_FEDERATED_TOKEN_FILE",
}
KINDS = ("default", "managed-identity", "workload-identity", "client-secret", "azure-cli", "access-token")


@dataclass(frozen=True)
class IdentitySettings:
    """What the credential is made of; secrets already read (never shown by `repr`)."""

    kind: str
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token_file: str | None = None
    access_token: str | None = field(default=None, repr=False)
    authority_host: str | None = None
    instance_discovery: bool = True
    ca_bundle: str | None = None

    def describe(self) -> str:
        """`azure.credential client-secret (tenant T, client C)`: who is asking, for error messages."""
        parts = [
            f"tenant {self.tenant_id}" if self.tenant_id else "",
            f"client {self.client_id}" if self.client_id else "",
        ]
        named = ", ".join(p for p in parts if p)
        return f"azure.credential {self.kind}" + (f" ({named})" if named else "")


class NamedCredential:
    """A credential whose failures say which credential failed and why, in one line."""

    def __init__(self, inner: Any, description: str) -> None:
        self.inner = inner
        self.description = description

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        try:
            token: AccessToken = self.inner.get_token(*scopes, **kwargs)
        except ClientAuthenticationError as exc:
            reason = _first_line(exc.message if isinstance(exc.message, str) else str(exc))
            raise ClientAuthenticationError(
                message=f"{self.description}: no token for {' '.join(scopes)}: {reason}"
            ) from None
        return token

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no reason given"
    return line.removeprefix("Authentication failed: ")[:400]


def build_credential(settings: IdentitySettings) -> NamedCredential:
    """The credential `settings` describe; `ValueError` naming what is missing for its kind."""
    return NamedCredential(_inner(settings), settings.describe())


def _inner(s: IdentitySettings) -> Any:
    transport: dict[str, Any] = {"connection_verify": s.ca_bundle} if s.ca_bundle else {}
    authority: dict[str, Any] = {"authority": s.authority_host} if s.authority_host else {}
    if not s.instance_discovery:
        authority["disable_instance_discovery"] = True
    if s.kind == "access-token":
        if not s.access_token:
            raise ValueError("kind access-token needs access_token")
        return StaticTokenCredential(s.access_token)
    if s.kind == "client-secret":
        if not (s.tenant_id and s.client_id and s.client_secret):
            raise ValueError("kind client-secret needs tenant_id, client_id and client_secret")
        from azure.identity import ClientSecretCredential

        return ClientSecretCredential(s.tenant_id, s.client_id, s.client_secret, **authority, **transport)
    if s.kind == "workload-identity":
        from azure.identity import WorkloadIdentityCredential

        values = {"tenant_id": s.tenant_id, "client_id": s.client_id, "token_file": s.token_file}
        missing = [
            f"{key} (or {_WORKLOAD_ENV[key]})"
            for key, value in values.items()
            if not value and not os.environ.get(_WORKLOAD_ENV[key])
        ]
        if missing:
            raise ValueError(f"kind workload-identity needs {', '.join(missing)}")
        return WorkloadIdentityCredential(
            tenant_id=s.tenant_id, client_id=s.client_id, token_file_path=s.token_file, **authority, **transport
        )
    if s.kind == "managed-identity":
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=s.client_id, **transport)
    if s.kind == "azure-cli":
        from azure.identity import AzureCliCredential

        return AzureCliCredential(tenant_id=s.tenant_id or "")
    if s.kind == "default":
        from azure.identity import DefaultAzureCredential

        kwargs: dict[str, Any] = {**transport, **({"authority": s.authority_host} if s.authority_host else {})}
        if s.client_id:
            kwargs["managed_identity_client_id"] = s.client_id
        return DefaultAzureCredential(**kwargs)
    raise ValueError(f"unknown credential kind '{s.kind}' (one of {', '.join(KINDS)})")


@dataclass(frozen=True)
class BearerToken:
    token: str = field(repr=False)
    expires_on: int

    def remaining_s(self, now: float) -> float:
        return self.expires_on - now


class ArmTokenSource:
    """Bearer tokens for `<arm_endpoint>/.default`, each living at least a given time when possible."""

    def __init__(
        self,
        credential: TokenCredential,
        arm_endpoint: str,
        *,
        renew: Callable[[], NamedCredential] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credential = credential
        self.scope = arm_endpoint.rstrip("/") + "/.default"
        self._renew = renew
        self._clock = clock

    def mint(self, min_validity_s: float) -> BearerToken:
        """The credential's token; when it would expire within `min_validity_s`, a fresh one (if longer)."""
        token = self.credential.get_token(self.scope)
        best = BearerToken(token.token, int(token.expires_on))
        if best.remaining_s(self._clock()) >= min_validity_s or self._renew is None:
            return best
        fresh_credential = self._renew()  # a new credential has an empty cache: the STS issues a new token
        try:
            fresh = fresh_credential.get_token(self.scope)
        finally:
            fresh_credential.close()
        return BearerToken(fresh.token, int(fresh.expires_on)) if fresh.expires_on >= best.expires_on else best
