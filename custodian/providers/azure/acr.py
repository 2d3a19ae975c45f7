"""ACR tokens as service accounts: collection, and the confirmed actions disable / remove passwords / delete.

Passwords are never read back (the service only shows name, creation time and expiry).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry.models import TokenCredentialsProperties, TokenUpdateParameters

from custodian.model import AccountKind, Credential, CredentialKind, Provider, Scope, ServiceAccount
from custodian.providers.azure.clients import ArmClients
from custodian.providers.paging import azure_items


def registry_id(subscription: str, resource_group: str, registry: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.ContainerRegistry/registries/{registry}"
    )


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _password(token_id: str, password: Any) -> Credential:
    return Credential(
        CredentialKind.ACR_PASSWORD,
        f"{token_id}/{password.name}",
        str(password.name),
        _utc(password.creation_time),
        _utc(password.expiry),
    )


def token_account(token: Any, unit: str, subscription: str, login_server: str | None) -> ServiceAccount:
    passwords = list(getattr(getattr(token, "credentials", None), "passwords", None) or [])
    credentials = tuple(_password(token.id, p) for p in passwords)
    return ServiceAccount(
        provider=Provider.AZURE,
        kind=AccountKind.ACR,
        provider_name=str(token.name),
        unit=unit,
        scope=Scope.subscription(subscription),
        enabled=str(token.status).lower() != "disabled",
        credentials=credentials,
        resource_id=str(token.id),
        location=login_server,
        snapshot={
            "id": token.id,
            "name": token.name,
            "status": token.status,
            "scopeMapId": token.scope_map_id,
            "creationDate": token.creation_date.isoformat() if token.creation_date else None,
            "passwords": [
                {
                    "name": p.name,
                    "creationTime": p.creation_time.isoformat() if p.creation_time else None,
                    "expiry": p.expiry.isoformat() if p.expiry else None,
                }
                for p in passwords
            ],
        },
    )


class AcrTokens:
    """Token operations on one registry."""

    def __init__(
        self, clients: ArmClients, subscription: str, resource_group: str, registry: str, login_server: str | None
    ) -> None:
        self.client = clients.get(ContainerRegistryManagementClient, subscription)
        self.resource_group = resource_group
        self.registry = registry
        self.subscription = subscription
        self.scope = registry_id(subscription, resource_group, registry)  # the collection unit
        self.login_server = login_server

    def list_accounts(self) -> list[ServiceAccount]:
        tokens = azure_items(
            self.client.tokens.list(self.resource_group, self.registry), f"tokens of registry {self.registry}"
        )
        return [token_account(t, self.scope, self.subscription, self.login_server) for t in tokens]

    def get(self, name: str) -> ServiceAccount | None:
        try:
            token = self.client.tokens.get(self.resource_group, self.registry, name)
        except ResourceNotFoundError:
            return None
        return token_account(token, self.scope, self.subscription, self.login_server)

    def disable(self, name: str) -> None:
        poller = self.client.tokens.begin_update(
            self.resource_group, self.registry, name, TokenUpdateParameters(status="disabled")
        )
        poller.result()

    def remove_passwords(self, name: str) -> None:
        poller = self.client.tokens.begin_update(
            self.resource_group,
            self.registry,
            name,
            TokenUpdateParameters(credentials=TokenCredentialsProperties(passwords=[])),
        )
        poller.result()

    def delete(self, name: str) -> None:
        self.client.tokens.begin_delete(self.resource_group, self.registry, name).result()
