"""The reaper's own ARM reads (azure-mgmt SDKs through `ArmClients`): the independent listing,
re-reads by id, and polling the long-running operations c7n started but did not wait for.

All of it is GET on the wire (the clients' read-only guard lets it through in any run) and every
call is counted by the run's `CallCounter`. An operation URL is only followed when it points at the
configured ARM endpoint: the bearer token is never sent anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource import ResourceManagementClient

from custodian.providers.azure.clients import ArmClients

__all__ = ["TYPE_KINDS", "ArmReader", "OperationStatus", "ResourceState"]

TYPE_KINDS = {
    "microsoft.compute/virtualmachines": "virtualMachine",
    "microsoft.compute/disks": "disk",
    "microsoft.network/networkinterfaces": "networkInterface",
    "microsoft.network/publicipaddresses": "publicIPAddress",
    "microsoft.network/networksecuritygroups": "networkSecurityGroup",
}
_NETWORK_GROUPS = {
    "microsoft.network/networkinterfaces": "network_interfaces",
    "microsoft.network/publicipaddresses": "public_ip_addresses",
    "microsoft.network/networksecuritygroups": "network_security_groups",
}
_TERMINAL = {"succeeded", "failed", "canceled", "cancelled"}


@dataclass(frozen=True)
class ResourceState:
    """What a re-read shows of a resource that still exists."""

    tags: dict[str, str]
    provisioning_state: str | None


@dataclass(frozen=True)
class OperationStatus:
    status: str  # InProgress, Succeeded, Failed, Canceled (as ARM spells it)
    retry_after_s: float | None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status.lower() in _TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status.lower() == "succeeded"


def _parts(resource_id: str) -> tuple[str, str, str, str]:
    """(subscription, resource group, `namespace/type` lower case, name) of a top-level resource id."""
    segs = [s for s in resource_id.strip().split("/") if s]
    low = [s.lower() for s in segs]
    if len(segs) != 8 or low[0] != "subscriptions" or low[2] != "resourcegroups" or low[4] != "providers":
        raise ValueError(f"not a top-level ARM resource id: {resource_id}")
    return segs[1], segs[3], f"{low[5]}/{low[6]}", segs[7]


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class ArmReader:
    """Reads through the run's `ArmClients`; `endpoint` is the configured ARM base URL."""

    def __init__(self, clients: ArmClients, endpoint: str) -> None:
        self._clients = clients
        self._endpoint = urlsplit(endpoint)

    def list_ids(self, subscription: str) -> dict[str, str]:
        """Every VM, disk, NIC, public IP and NSG id (lower case) of the subscription -> its kind.

        The generic `resources` listing: a different ARM endpoint from the typed lists c7n reads, so
        a cut-short page in one shows up as a disagreement between the two.
        """
        client = self._clients.get(ResourceManagementClient, subscription)
        out: dict[str, str] = {}
        for item in client.resources.list():
            kind = TYPE_KINDS.get(str(item.type or "").lower())
            if kind is not None:
                out[str(item.id).lower()] = kind
        return out

    def get(self, resource_id: str) -> ResourceState | None:
        """The resource's tags and provisioning state, or None when ARM answers 404."""
        subscription, group, rtype, name = _parts(resource_id)
        operations: Any
        if rtype in ("microsoft.compute/virtualmachines", "microsoft.compute/disks"):
            compute = self._clients.get(ComputeManagementClient, subscription)
            operations = compute.virtual_machines if rtype.endswith("virtualmachines") else compute.disks
        elif rtype in _NETWORK_GROUPS:
            network = self._clients.get(NetworkManagementClient, subscription)
            operations = getattr(network, _NETWORK_GROUPS[rtype])
        else:
            raise ValueError(f"cannot re-read a {rtype}")
        try:
            model = operations.get(group, name)
        except ResourceNotFoundError:
            return None
        tags = {str(k): str(v) for k, v in (getattr(model, "tags", None) or {}).items()}
        return ResourceState(tags, getattr(model, "provisioning_state", None))

    def follows(self, url: str) -> bool:
        """True when `url` is on the configured ARM endpoint (same scheme and host:port)."""
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc.lower()) == (self._endpoint.scheme, self._endpoint.netloc.lower())

    def poll(self, subscription: str, url: str, *, location_style: bool) -> OperationStatus:
        """One GET of an operation URL (`Azure-AsyncOperation` body status, or `Location` 202/200/204)."""
        if not self.follows(url):
            raise ValueError(f"refusing to poll {url}: not on the configured ARM endpoint")
        client = self._clients.get(ResourceManagementClient, subscription)
        response = client._client.send_request(HttpRequest("GET", url))
        retry_after = _retry_after(response.headers)
        if location_style:
            if response.status_code == 202:
                return OperationStatus("InProgress", retry_after)
            if response.status_code in (200, 204):
                return OperationStatus("Succeeded", retry_after)
            return OperationStatus("Failed", retry_after, f"HTTP {response.status_code} polling {url}")
        if response.status_code != 200:
            return OperationStatus("Failed", retry_after, f"HTTP {response.status_code} polling {url}")
        try:
            body = response.json() or {}
        except ValueError:
            return OperationStatus("InProgress", retry_after, "the operation status is not JSON")
        status = str(body.get("status") or "InProgress")
        error = body.get("error") if isinstance(body.get("error"), dict) else None
        message = f"{error.get('code')}: {error.get('message')}" if error else None
        return OperationStatus(status, retry_after, message)
