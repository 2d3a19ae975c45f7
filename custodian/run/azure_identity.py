"""From the configuration's `azure.credential` (or its `access_token` shorthand) to the run's credential.

`identity_settings(config)` reads the secrets now, before the run writes anything: a secret or token
file that is missing, unreadable or empty is a `ConfigError` naming its key (exit 2, nothing done).
A secret that is merely wrong is found out at the first token request: each unit that needed the
token is then incomplete (a COLLECT error), and nothing in it is acted on.
"""

from __future__ import annotations

import os
from pathlib import Path

from custodian.config import Config, ConfigError, SecretRef
from custodian.providers.azure.identity import ArmTokenSource, IdentitySettings, NamedCredential, build_credential


def _secret(ref: SecretRef | None, key: str) -> str | None:
    if ref is None:
        return None
    try:
        return ref.resolve()
    except ConfigError as exc:
        raise ConfigError([f"{key}: {p.removeprefix('secret: ')}" for p in exc.problems]) from None


def _token_file(configured: Path | None) -> str | None:
    path = str(configured) if configured else os.environ.get("AZURE_FEDERATED_TOKEN_FILE")
    if not path:
        return None  # WorkloadIdentityCredential names what is missing
    key = "azure.credential.token_file" if configured else "AZURE_FEDERATED_TOKEN_FILE"
    try:
        if not Path(path).read_text(encoding="utf-8").strip():
            raise ConfigError([f"{key}: {path} is empty (it should hold the federated service-account token)"])
    except OSError as exc:
        raise ConfigError([f"{key}: cannot read {path}: {exc.strerror}"]) from None
    return path


def identity_settings(config: Config) -> IdentitySettings:
    azure = config.azure
    credential = azure.identity()
    shorthand = azure.credential is None and azure.access_token is not None
    return IdentitySettings(
        kind=credential.kind.value,
        tenant_id=credential.tenant_id,
        client_id=credential.client_id,
        client_secret=_secret(credential.client_secret, "azure.credential.client_secret"),
        token_file=_token_file(credential.token_file) if credential.kind.value == "workload-identity" else None,
        access_token=_secret(
            credential.access_token, "azure.access_token" if shorthand else "azure.credential.access_token"
        ),
        authority_host=credential.authority_host,
        instance_discovery=credential.instance_discovery,
        ca_bundle=str(azure.ca_bundle) if azure.ca_bundle else None,
    )


def azure_credential(settings: IdentitySettings) -> NamedCredential:
    """The credential; a kind that lacks a value (e.g. workload identity without a tenant) is a ConfigError."""
    try:
        return build_credential(settings)
    except ValueError as exc:
        raise ConfigError([f"azure.credential: {exc}"]) from None


def arm_token_source(config: Config, settings: IdentitySettings, credential: NamedCredential) -> ArmTokenSource:
    """Tokens for c7n's children, from the same credential (a static token is handed over as it is)."""
    renew = None if settings.kind == "access-token" else (lambda: build_credential(settings))
    return ArmTokenSource(credential, config.azure.arm_endpoint, renew=renew)
