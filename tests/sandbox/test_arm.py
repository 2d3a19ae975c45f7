"""The ARM emulator, driven by the real Azure management SDK clients over real HTTPS (nothing patched).

SDK versions are the ones c7n-azure pins (compute 34.1.0, network 28.1.0, containerregistry 14.0.0,
resource 23.4.0, storage 22.2.0). Clients use `polling_interval=0` and a tiny retry backoff; the
emulator's LRO polls stay InProgress only in the tests that need it (each such poll costs the 1 s
`Retry-After` the emulator sends, as real ARM does).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import NetworkSecurityGroup, TagsObject
from azure.mgmt.resource import ResourceManagementClient, SubscriptionClient
from azure.mgmt.storage import StorageManagementClient

from custodian.sandbox.arm import ArmEmulator, ArmStore, start_arm
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.tls import SandboxTLS

SUB = "00000000-0000-4000-8000-00000000a001"
RG = "rg-app"
OTHER_RG = "rg-other"
P = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers"
VMS = f"{P}/Microsoft.Compute/virtualMachines"
DISKS = f"{P}/Microsoft.Compute/disks"
NICS = f"{P}/Microsoft.Network/networkInterfaces"
PIPS = f"{P}/Microsoft.Network/publicIPAddresses"
NSGS = f"{P}/Microsoft.Network/networkSecurityGroups"
ACCOUNTS = f"{P}/Microsoft.Storage/storageAccounts"
REGISTRIES = f"{P}/Microsoft.ContainerRegistry/registries"
TOKENS = f"{REGISTRIES}/acrone/tokens"


class _Credential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("sandbox-token", int(time.time()) + 36_000)


# -- seed --------------------------------------------------------------------------------------------
def _vm(
    name: str,
    *,
    os_disk: str,
    os_delete: str | None = None,
    data: Sequence[tuple[str, str | None]] = (),
    nics: Sequence[tuple[str, str | None]] = (),
    power: str = "running",
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    osd: dict[str, Any] = {"name": os_disk, "createOption": "FromImage", "managedDisk": {"id": f"{DISKS}/{os_disk}"}}
    if os_delete:
        osd["deleteOption"] = os_delete
    data_disks = []
    for lun, (disk, option) in enumerate(data):
        entry: dict[str, Any] = {
            "lun": lun,
            "name": disk,
            "createOption": "Attach",
            "managedDisk": {"id": f"{DISKS}/{disk}"},
        }
        if option:
            entry["deleteOption"] = option
        data_disks.append(entry)
    nic_refs = []
    for nic, option in nics:
        ref: dict[str, Any] = {"id": f"{NICS}/{nic}", "properties": {"primary": True}}
        if option:
            ref["properties"]["deleteOption"] = option
        nic_refs.append(ref)
    doc: dict[str, Any] = {
        "id": f"{VMS}/{name}",
        "location": "eastus",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "storageProfile": {"osDisk": osd, "dataDisks": data_disks},
            "osProfile": {"computerName": name, "adminUsername": "azureuser"},
            "networkProfile": {"networkInterfaces": nic_refs},
            "instanceView": {
                "statuses": [
                    {"code": "ProvisioningState/succeeded", "level": "Info"},
                    {"code": f"PowerState/{power}", "level": "Info"},
                ]
            },
        },
    }
    if tags:
        doc["tags"] = tags
    return doc


def _nic(name: str, *, nsg: str | None = None, pip: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "id": f"{NICS}/{name}/ipConfigurations/ipconfig1",
        "name": "ipconfig1",
        "properties": {"privateIPAddress": "10.0.0.4", "primary": True},
    }
    if pip:
        conf["properties"]["publicIPAddress"] = {"id": f"{PIPS}/{pip}"}
    doc: dict[str, Any] = {"id": f"{NICS}/{name}", "properties": {"ipConfigurations": [conf]}}
    if nsg:
        doc["properties"]["networkSecurityGroup"] = {"id": f"{NSGS}/{nsg}"}
    return doc


def seed(store: ArmStore) -> None:
    store.add_subscription(SUB, "sandbox")
    store.add_resource_group(SUB, RG, "eastus", {"env": "dev"})
    store.add_resource_group(SUB, OTHER_RG, "westeurope")
    store.put(
        _vm(
            "vm-keep",
            os_disk="keep-os",
            data=[("keep-data", None)],
            nics=[("nic-keep", None)],
            power="deallocated",
            tags={"owner": "alice", "env": "dev"},
        )
    )
    store.put(
        _vm("vm-del", os_disk="del-os", os_delete="Delete", data=[("del-data", "Detach")], nics=[("nic-del", "Delete")])
    )
    for name in ("vm-a", "vm-b", "vm-c"):
        store.put(_vm(name, os_disk=f"{name}-os", power="stopped" if name == "vm-b" else "running"))
    for disk in ("keep-os", "keep-data", "del-os", "del-data", "loose", "vm-a-os", "vm-b-os", "vm-c-os"):
        store.put({"id": f"{DISKS}/{disk}", "sku": {"name": "Premium_LRS"}, "properties": {"diskSizeGB": 32}})
    store.put(_nic("nic-keep", nsg="nsg1", pip="pip1"))
    store.put(_nic("nic-del"))
    store.put(_nic("nic-free", nsg="nsg-free-nic"))
    store.put({"id": f"{PIPS}/pip1", "properties": {"ipAddress": "20.1.2.3"}})
    store.put({"id": f"{PIPS}/pip-free", "properties": {"ipAddress": "20.1.2.4"}})
    store.put({"id": f"{NSGS}/nsg1"})
    store.put({"id": f"{NSGS}/nsg-free-nic"})
    store.put(
        {
            "id": f"{NSGS}/nsg-subnet",
            "properties": {"subnets": [{"id": f"{P}/Microsoft.Network/virtualNetworks/v/subnets/s"}]},
        }
    )
    for i in range(5):
        account = f"{ACCOUNTS}/acct{i}"
        store.put({"id": account, "tags": {"tier": "hot"} if i == 0 else {}})
    for i in range(5):
        store.put({"id": f"{ACCOUNTS}/acct0/blobServices/default/containers/c{i}"})
    for i in range(5):
        store.put({"id": f"{REGISTRIES}/acr{['one', 'two', 'three', 'four', 'five'][i]}"})
    for i in range(5):
        store.put(
            {
                "id": f"{TOKENS}/token-{i}",
                "properties": {
                    "scopeMapId": f"{REGISTRIES}/acrone/scopeMaps/_repositories_pull",
                    "credentials": {
                        "passwords": [
                            {"name": "password1", "value": f"secret-{i}-1", "creationTime": "2026-01-01T00:00:00Z"},
                            {"name": "password2", "value": f"secret-{i}-2", "creationTime": "2026-01-01T00:00:00Z"},
                        ]
                    },
                },
            }
        )
    store.put({"id": f"{REGISTRIES}/acrone/scopeMaps/_repositories_pull", "properties": {"type": "SystemDefined"}})
    store.put(
        {"id": f"/subscriptions/{SUB}/resourceGroups/{OTHER_RG}/providers/{PIPS.split('/providers/')[1]}/other-pip"}
    )


# -- fixtures ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTLS:
    return SandboxTLS(Path(tmp_path_factory.mktemp("arm-tls")))


@pytest.fixture(scope="module")
def arm_server(tls: SandboxTLS) -> Iterator[tuple[ArmEmulator, EmulatorServer]]:
    emulator, server = start_arm(tls, page_size=2)
    yield emulator, server
    server.stop()


@dataclass
class Arm:
    emulator: ArmEmulator
    server: EmulatorServer
    tls: SandboxTLS

    @property
    def store(self) -> ArmStore:
        return self.emulator.store

    def kw(self, **extra: Any) -> dict[str, Any]:
        return {
            "base_url": self.server.url,
            "connection_verify": str(self.tls.ca_bundle_path),
            "polling_interval": 0,
            "retry_backoff_factor": 0.01,
            **extra,
        }

    def compute(self) -> ComputeManagementClient:
        return ComputeManagementClient(_Credential(), SUB, **self.kw())

    def network(self) -> NetworkManagementClient:
        return NetworkManagementClient(_Credential(), SUB, **self.kw())

    def resource(self) -> ResourceManagementClient:
        return ResourceManagementClient(_Credential(), SUB, **self.kw())

    def storage(self) -> StorageManagementClient:
        return StorageManagementClient(_Credential(), SUB, **self.kw())

    def acr(self) -> ContainerRegistryManagementClient:
        return ContainerRegistryManagementClient(_Credential(), SUB, **self.kw())

    def raw(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": "Bearer sandbox-token"} if auth else {}
        return requests.request(
            method, self.server.url + path, headers=headers, verify=str(self.tls.ca_bundle_path), timeout=10, **kwargs
        )

    def log(self, fragment: str = "") -> list[tuple[str, str, str, int, str | None]]:
        return [
            (r.method, r.path, r.query, r.status, r.fault)
            for r in self.server.requests
            if fragment.lower() in r.path.lower()
        ]


@pytest.fixture
def arm(arm_server: tuple[ArmEmulator, EmulatorServer], tls: SandboxTLS) -> Arm:
    emulator, server = arm_server
    server.set_faults(FaultPlan())
    emulator.store.clear()
    emulator.page_size = 2
    emulator.lro_polls_in_progress = 0
    seed(emulator.store)
    server.clear_log()
    return Arm(emulator, server, tls)


def _code(exc: HttpResponseError) -> str:
    assert exc.error is not None, exc
    return str(exc.error.code)


def _message(exc: HttpResponseError) -> str:
    assert exc.error is not None, exc
    return str(exc.error.message)


def _ref(sub_resource: Any) -> str:
    """The id of a `{"id": ...}` reference model (fails the test when the reference is absent)."""
    assert sub_resource is not None
    return str(sub_resource.id)


def _refs(sub_resources: Any) -> list[str]:
    return [_ref(r) for r in sub_resources or []]


def _names(items: Any) -> list[str]:
    return [str(i.name) for i in items]


# -- store ---------------------------------------------------------------------------------------------
def test_store_fills_name_type_and_checks_parents() -> None:
    store = ArmStore()
    store.add_subscription(SUB)
    with pytest.raises(ValueError, match="resource group 'rg-app' does not exist"):
        store.put({"id": f"{VMS}/vm1"})
    store.add_resource_group(SUB, RG, "westus2")
    vm = store.put({"id": f"{VMS}/vm1"})
    assert (vm["name"], vm["type"], vm["location"]) == ("vm1", "Microsoft.Compute/virtualMachines", "westus2")
    assert vm["systemData"]["createdAt"] and vm["properties"]["timeCreated"]
    token = store.put({"id": f"{TOKENS}/tok1"})
    assert token["type"] == "Microsoft.ContainerRegistry/registries/tokens" and "location" not in token
    assert store.get(f"{VMS.upper()}/VM1") is not None  # ids compare case-insensitively
    assert _names_of(store.list("microsoft.compute/VIRTUALMACHINES")) == ["vm1"]
    assert store.list("Microsoft.Resources/resourceGroups", SUB)[0]["name"] == RG
    with pytest.raises(ValueError, match="subscription"):
        store.put({"id": f"/subscriptions/nope/resourceGroups/{RG}/providers/Microsoft.Compute/disks/d"})
    store.remove(f"{VMS}/vm1")
    assert store.get(f"{VMS}/vm1") is None
    store.clear()
    assert store.subscriptions() == []


def _names_of(docs: list[dict[str, Any]]) -> list[str]:
    return [str(d["name"]) for d in docs]


# -- protocol ------------------------------------------------------------------------------------------
def test_api_version_and_bearer_are_required(arm: Arm) -> None:
    missing = arm.raw("GET", f"/subscriptions/{SUB}/resourcegroups")
    assert missing.status_code == 400
    assert missing.json() == {
        "error": {
            "code": "MissingApiVersionParameter",
            "message": "The api-version query parameter (?api-version=) is required for all requests.",
        }
    }
    unauth = arm.raw("GET", f"/subscriptions/{SUB}/resourcegroups", auth=False, params={"api-version": "2025-03-01"})
    assert unauth.status_code == 401 and unauth.json()["error"]["code"] == "AuthenticationFailed"


def test_routing_is_case_insensitive_and_headers_are_arm_like(arm: Arm) -> None:
    path = f"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/RG-APP/PROVIDERS/microsoft.compute/VIRTUALMACHINES/VM-A"
    response = arm.raw("GET", path, params={"api-version": "1999-01-01"})
    assert response.status_code == 200 and response.json()["name"] == "vm-a"
    for header in ("x-ms-request-id", "x-ms-correlation-request-id", "x-ms-ratelimit-remaining-subscription-reads"):
        assert header in response.headers
    again = arm.raw("GET", path, params={"api-version": "1999-01-01"})
    reads = int(again.headers["x-ms-ratelimit-remaining-subscription-reads"])
    assert reads < int(response.headers["x-ms-ratelimit-remaining-subscription-reads"])
    delete = arm.raw("DELETE", f"{DISKS}/loose", params={"api-version": "2024-03-02"})
    assert delete.status_code == 202 and delete.headers["Retry-After"] == "1"
    assert delete.headers["Azure-AsyncOperation"].startswith(arm.server.url + f"/subscriptions/{SUB}/providers/")
    assert (
        delete.headers["Location"].startswith(arm.server.url) and "api-version=2024-03-02" in delete.headers["Location"]
    )
    assert "x-ms-ratelimit-remaining-subscription-deletes" in delete.headers
    status = arm.raw("GET", delete.headers["Azure-AsyncOperation"].removeprefix(arm.server.url))
    assert status.json()["status"] == "Succeeded"
    assert arm.raw("GET", delete.headers["Location"].removeprefix(arm.server.url)).status_code == 204
    assert arm.store.get(f"{DISKS}/loose") is None


# -- compute -------------------------------------------------------------------------------------------
def test_vm_list_all_pages_with_api_version_in_next_link(arm: Arm) -> None:
    names = _names(arm.compute().virtual_machines.list_all())
    assert names == ["vm-a", "vm-b", "vm-c", "vm-del", "vm-keep"]
    pages = arm.log("/virtualMachines")
    assert len(pages) == 3
    assert all("api-version=" in q for _, _, q, _, _ in pages)
    assert [("$skiptoken=" in q) for _, _, q, _, _ in pages] == [False, True, True]
    by_rg = _names(arm.compute().virtual_machines.list(RG))
    assert by_rg == names


def test_vm_power_state_from_status_only_and_instance_view(arm: Arm) -> None:
    compute = arm.compute()
    plain = {vm.name: vm for vm in compute.virtual_machines.list_all()}
    assert all(vm.instance_view is None for vm in plain.values())
    states = {
        vm.name: [s.code for s in vm.instance_view.statuses if s.code.startswith("PowerState/")]
        for vm in compute.virtual_machines.list_all(status_only="true")
    }
    assert states["vm-keep"] == ["PowerState/deallocated"] and states["vm-b"] == ["PowerState/stopped"]
    assert states["vm-a"] == ["PowerState/running"]
    assert compute.virtual_machines.get(RG, "vm-keep").instance_view is None
    expanded = compute.virtual_machines.get(RG, "vm-keep", expand="instanceView")
    assert expanded.instance_view.statuses[-1].code == "PowerState/deallocated"
    assert compute.virtual_machines.get(RG, "vm-b", expand="instanceview").instance_view is not None  # c7n's casing
    view = compute.virtual_machines.instance_view(RG, "vm-a")
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    assert view.computer_name == "vm-a"
    disk = compute.disks.get(RG, "keep-os")
    assert disk.managed_by.lower() == f"{VMS}/vm-keep".lower() and disk.disk_state == "Reserved"


def test_vm_delete_lro_cascades_by_delete_option(arm: Arm) -> None:
    arm.emulator.lro_polls_in_progress = 1
    compute, network = arm.compute(), arm.network()
    poller = compute.virtual_machines.begin_delete(RG, "vm-del")  # polls in a background thread
    deleting = compute.virtual_machines.get(RG, "vm-del")  # the first poll said InProgress + Retry-After: 1
    assert deleting.provisioning_state == "Deleting"
    assert poller.result() is None and poller.status() == "Succeeded"
    polls = [s for m, p, _, s, _ in arm.log("/operations/") if m == "GET"]
    assert polls == [200, 200]  # InProgress, then Succeeded
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(RG, "vm-del")
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get(RG, "del-os")  # deleteOption Delete
    data = compute.disks.get(RG, "del-data")  # deleteOption Detach
    assert data.disk_state == "Unattached" and data.managed_by is None
    with pytest.raises(ResourceNotFoundError):
        network.network_interfaces.get(RG, "nic-del")


def test_vm_delete_detaches_by_default_and_frees_nic(arm: Arm) -> None:
    compute, network = arm.compute(), arm.network()
    assert _ref(network.network_interfaces.get(RG, "nic-keep").virtual_machine).lower() == f"{VMS}/vm-keep".lower()
    compute.virtual_machines.begin_delete(RG, "vm-keep").result()
    for name in ("keep-os", "keep-data"):
        disk = compute.disks.get(RG, name)
        assert disk.disk_state == "Unattached" and disk.managed_by is None
    nic = network.network_interfaces.get(RG, "nic-keep")
    assert nic.virtual_machine is None
    assert _refs(network.network_security_groups.get(RG, "nsg1").network_interfaces) == [nic.id]
    assert _ref(network.public_ip_addresses.get(RG, "pip1").ip_configuration).startswith(str(nic.id))
    network.network_interfaces.begin_delete(RG, "nic-keep").result()  # back-references follow
    assert network.network_security_groups.get(RG, "nsg1").network_interfaces is None
    assert network.public_ip_addresses.get(RG, "pip1").ip_configuration is None
    network.public_ip_addresses.begin_delete(RG, "pip1").result()
    network.network_security_groups.begin_delete(RG, "nsg1").result()
    compute.disks.begin_delete(RG, "keep-os").result()
    assert _names(network.public_ip_addresses.list(RG)) == ["pip-free"]


def test_in_use_resources_cannot_be_deleted(arm: Arm) -> None:
    compute, network = arm.compute(), arm.network()
    with pytest.raises(HttpResponseError) as nic:
        network.network_interfaces.begin_delete(RG, "nic-keep").result()
    assert (nic.value.status_code, _code(nic.value)) == (400, "NicInUse")
    with pytest.raises(HttpResponseError) as pip:
        network.public_ip_addresses.begin_delete(RG, "pip1").result()
    assert (pip.value.status_code, _code(pip.value)) == (400, "PublicIPAddressCannotBeDeleted")
    for nsg in ("nsg1", "nsg-subnet"):
        with pytest.raises(HttpResponseError) as in_use:
            network.network_security_groups.begin_delete(RG, nsg).result()
        assert _code(in_use.value) == "InUseNetworkSecurityGroupCannotBeDeleted"
    with pytest.raises(ResourceExistsError) as disk:
        compute.disks.begin_delete(RG, "vm-a-os").result()
    assert (disk.value.status_code, _code(disk.value)) == (409, "OperationNotAllowed")
    assert network.network_interfaces.get(RG, "nic-keep").provisioning_state == "Succeeded"


def test_not_found_errors_map_to_sdk_exceptions(arm: Arm) -> None:
    compute = arm.compute()
    with pytest.raises(ResourceNotFoundError) as missing:
        compute.virtual_machines.get(RG, "ghost")
    assert _code(missing.value) == "ResourceNotFound"
    assert _message(missing.value).startswith(
        f"The Resource 'Microsoft.Compute/virtualMachines/ghost' under resource group '{RG}' was not found."
    )
    with pytest.raises(ResourceNotFoundError) as no_group:
        compute.virtual_machines.get("rg-ghost", "vm-a")
    assert _code(no_group.value) == "ResourceGroupNotFound"
    assert _message(no_group.value) == "Resource group 'rg-ghost' could not be found."
    with pytest.raises(ResourceNotFoundError) as no_group_list:
        list(compute.disks.list_by_resource_group("rg-ghost"))
    assert _code(no_group_list.value) == "ResourceGroupNotFound"
    other = ComputeManagementClient(_Credential(), "11111111-2222-3333-4444-555555555555", **arm.kw())
    with pytest.raises(ResourceNotFoundError) as no_sub:
        list(other.virtual_machines.list_all())
    assert _code(no_sub.value) == "SubscriptionNotFound"
    assert compute.virtual_machines.begin_delete(RG, "ghost").result() is None
    assert ("DELETE", f"{VMS}/ghost", "api-version=2024-11-01", 204, None) in arm.log("ghost")
    with pytest.raises(ResourceNotFoundError) as token_of_missing_registry:
        arm.acr().tokens.get(RG, "acrghost", "token-0")
    assert "registries/acrghost'" in _message(token_of_missing_registry.value)


def test_vm_power_actions(arm: Arm) -> None:
    compute = arm.compute()
    compute.virtual_machines.begin_power_off(RG, "vm-a").result()
    assert compute.virtual_machines.instance_view(RG, "vm-a").statuses[-1].code == "PowerState/stopped"
    compute.virtual_machines.begin_deallocate(RG, "vm-a").result()
    assert compute.disks.get(RG, "vm-a-os").disk_state == "Reserved"
    compute.virtual_machines.begin_start(RG, "vm-a").result()
    assert compute.disks.get(RG, "vm-a-os").disk_state == "Attached"


# -- network / disks lists ---------------------------------------------------------------------------
def test_network_and_disk_lists_page(arm: Arm) -> None:
    network, compute = arm.network(), arm.compute()
    assert _names(network.network_interfaces.list_all()) == ["nic-del", "nic-free", "nic-keep"]
    assert _names(network.network_security_groups.list_all()) == ["nsg-free-nic", "nsg-subnet", "nsg1"]
    assert _names(network.public_ip_addresses.list_all()) == ["pip-free", "pip1", "other-pip"]  # ordered by id
    assert _names(network.public_ip_addresses.list(OTHER_RG)) == ["other-pip"]
    assert len(list(compute.disks.list())) == 8
    assert len(arm.log("/providers/Microsoft.Compute/disks")) == 4
    loose = compute.disks.get(RG, "loose")
    assert loose.disk_state == "Unattached" and loose.managed_by is None
    assert _refs(network.network_security_groups.get(RG, "nsg-free-nic").network_interfaces) == [f"{NICS}/nic-free"]


# -- resource groups, generic resources, tags, providers ----------------------------------------------
def test_resource_groups_crud(arm: Arm) -> None:
    resource = arm.resource()
    assert _names(resource.resource_groups.list()) == [RG, OTHER_RG]
    assert _names(resource.resource_groups.list(filter="tagName eq 'env' and tagValue eq 'dev'")) == [RG]
    assert resource.resource_groups.check_existence(RG) is True
    assert resource.resource_groups.check_existence("rg-ghost") is False
    created = resource.resource_groups.create_or_update("rg-new", {"location": "westus2", "tags": {"a": "1"}})
    assert (created.name, created.location, created.tags) == ("rg-new", "westus2", {"a": "1"})
    assert resource.resource_groups.update("rg-new", {"tags": {"b": "2"}}).tags == {"b": "2"}
    assert resource.resource_groups.get("RG-NEW").properties.provisioning_state == "Succeeded"
    assert [s for m, _, _, s, _ in arm.log("rg-new") if m == "PUT"] == [201]


def test_resource_group_delete_removes_contents(arm: Arm) -> None:
    arm.emulator.lro_polls_in_progress = 1
    resource = arm.resource()
    poller = resource.resource_groups.begin_delete(OTHER_RG)
    assert resource.resource_groups.get(OTHER_RG).properties.provisioning_state == "Deleting"
    poller.result()
    assert resource.resource_groups.check_existence(OTHER_RG) is False
    assert arm.store.list("Microsoft.Network/publicIPAddresses") and all(
        OTHER_RG not in d["id"] for d in arm.store.list("Microsoft.Network/publicIPAddresses")
    )
    with pytest.raises(ResourceNotFoundError) as gone:
        resource.resource_groups.begin_delete(OTHER_RG).result()
    assert _code(gone.value) == "ResourceGroupNotFound"


def test_generic_resources_list_filter_and_by_id(arm: Arm) -> None:
    resource = arm.resource()
    everything = list(resource.resources.list())
    assert len(everything) == 32  # top-level resources only (no tokens, containers, scope maps)
    assert all(r.properties is None for r in everything)
    tagged = resource.resources.list(filter="tagName eq 'owner' and tagValue eq 'alice'")
    assert _names(tagged) == ["vm-keep"]
    vms = resource.resources.list(filter="resourceType eq 'Microsoft.Compute/virtualMachines'", expand="createdTime")
    vm_list = list(vms)
    assert len(vm_list) == 5 and all(r.created_time is not None for r in vm_list)
    assert _names(resource.resources.list_by_resource_group(OTHER_RG)) == ["other-pip"]
    with pytest.raises(HttpResponseError) as bad:
        list(resource.resources.list(filter="bogus eq 'x'"))
    assert bad.value.status_code == 400
    # c7n's flow: look up an api-version for the type, then act by id.
    provider = resource.providers.get("Microsoft.Network")
    nic_type = next(t for t in provider.resource_types if t.resource_type == "networkInterfaces")
    api = next(v for v in nic_type.api_versions if "preview" not in v)
    nic = resource.resources.get_by_id(f"{NICS}/nic-free", api)
    assert nic.name == "nic-free" and nic.properties["networkSecurityGroup"]["id"].endswith("nsg-free-nic")
    resource.resources.begin_delete_by_id(f"{NICS}/nic-free", api).result()
    assert resource.resources.check_existence_by_id(f"{NICS}/nic-free", api) is False
    acr = resource.providers.get("microsoft.containerregistry")
    registry_versions = next(t for t in acr.resource_types if t.resource_type == "registries").api_versions
    assert registry_versions[0].endswith("-preview")
    with pytest.raises(ResourceNotFoundError):
        resource.providers.get("Microsoft.Nope")


def test_tags_api_at_scope(arm: Arm) -> None:
    resource = arm.resource()
    vm_id = f"{VMS}/vm-a"
    merged = resource.tags.begin_update_at_scope(
        vm_id, {"operation": "Merge", "properties": {"tags": {"a": "1", "b": "2"}}}
    )
    assert merged.result().properties.tags == {"a": "1", "b": "2"}
    # c7n's TagHelper: Replace with the complete new tag set
    resource.tags.begin_update_at_scope(vm_id, {"operation": "Replace", "properties": {"tags": {"b": "3"}}}).result()
    assert arm.compute().virtual_machines.get(RG, "vm-a").tags == {"b": "3"}
    resource.tags.begin_update_at_scope(vm_id, {"operation": "Delete", "properties": {"tags": {"b": ""}}}).result()
    assert resource.tags.get_at_scope(vm_id).properties.tags == {}
    resource.tags.begin_create_or_update_at_scope(
        f"/subscriptions/{SUB}/resourceGroups/{RG}", {"properties": {"tags": {"x": "y"}}}
    ).result()
    assert resource.resource_groups.get(RG).tags == {"x": "y"}
    updated = resource.resources.begin_update_by_id(
        f"{PIPS}/pip-free", "2024-05-01", {"tags": {"keep": "true"}}
    ).result()
    assert updated.tags == {"keep": "true"}
    with pytest.raises(ResourceNotFoundError):
        resource.tags.get_at_scope(f"{VMS}/ghost")
    assert next(q for m, _, q, _, _ in arm.log("/tags/default") if m == "PATCH") == "api-version=2025-03-01"


def test_subscriptions(arm: Arm) -> None:
    client = SubscriptionClient(_Credential(), **arm.kw())
    subs = list(client.subscriptions.list())
    assert [(s.subscription_id, s.display_name, s.state) for s in subs] == [(SUB, "sandbox", "Enabled")]
    assert client.subscriptions.get(SUB).id == f"/subscriptions/{SUB}"


# -- storage -------------------------------------------------------------------------------------------
def test_storage_accounts_keys_containers_and_sync_delete(arm: Arm) -> None:
    storage = arm.storage()
    assert _names(storage.storage_accounts.list()) == [f"acct{i}" for i in range(5)]
    assert len(arm.log("/storageAccounts")) == 3
    assert len(list(storage.storage_accounts.list_by_resource_group(RG))) == 5
    account = storage.storage_accounts.get_properties(RG, "acct0")
    assert account.primary_endpoints.blob == "https://acct0.blob.core.windows.net/" and account.tags == {"tier": "hot"}
    keys = storage.storage_accounts.list_keys(RG, "acct0").keys
    assert [k.key_name for k in keys] == ["key1", "key2"] and len(keys[0].value) == 88
    assert "$expand=kerb" in arm.log("/listKeys")[0][2]
    assert _names(storage.blob_containers.list(RG, "acct0")) == [f"c{i}" for i in range(5)]
    assert storage.blob_containers.get(RG, "acct0", "c3").public_access == "None"
    storage.storage_accounts.delete(RG, "acct0")
    storage.storage_accounts.delete(RG, "acct0")
    assert [s for m, _, _, s, _ in arm.log("/acct0") if m == "DELETE"] == [200, 204]
    assert arm.store.get(f"{ACCOUNTS}/acct0/blobServices/default/containers/c1") is None
    with pytest.raises(ResourceNotFoundError):
        list(storage.blob_containers.list(RG, "acct0"))


# -- container registry --------------------------------------------------------------------------------
def test_registries_and_tokens_list_get_update(arm: Arm) -> None:
    acr = arm.acr()
    assert _names(acr.registries.list()) == ["acrfive", "acrfour", "acrone", "acrthree", "acrtwo"]
    assert acr.registries.get(RG, "acrone").login_server == "acrone.azurecr.io"
    assert len(list(acr.registries.list_by_resource_group(RG))) == 5
    tokens = list(acr.tokens.list(RG, "acrone"))
    assert _names(tokens) == [f"token-{i}" for i in range(5)] and len(arm.log("/tokens")) == 3
    assert all(p.value is None for t in tokens for p in t.credentials.passwords)
    assert _names(acr.scope_maps.list(RG, "acrone")) == ["_repositories_pull"]
    token = acr.tokens.get(RG, "acrone", "token-1")
    assert token.status == "enabled" and [p.name for p in token.credentials.passwords] == ["password1", "password2"]
    disabled = acr.tokens.begin_update(
        RG, "acrone", "token-1", {"status": "disabled", "credentials": {"passwords": []}}
    ).result()
    assert disabled.status == "disabled" and not disabled.credentials.passwords
    stored = arm.store.get(f"{TOKENS}/token-1")
    assert stored is not None and stored["properties"]["credentials"]["passwords"] == []
    acr.tokens.begin_update(RG, "acrone", "token-2", {"credentials": {"passwords": [{"name": "password2"}]}}).result()
    kept = arm.store.get(f"{TOKENS}/token-2")
    assert kept is not None
    assert [(p["name"], p["value"]) for p in kept["properties"]["credentials"]["passwords"]] == [
        ("password2", "secret-2-2")
    ]


def test_token_create_generate_credentials_and_delete(arm: Arm) -> None:
    arm.emulator.lro_polls_in_progress = 1
    acr = arm.acr()
    scope_map = f"{REGISTRIES}/acrone/scopeMaps/_repositories_pull"
    created = acr.tokens.begin_create(
        RG, "acrone", "token-new", {"scope_map_id": scope_map, "status": "enabled"}
    ).result()
    assert created.provisioning_state == "Succeeded" and created.scope_map_id == scope_map
    assert [s for m, p, _, s, _ in arm.log("/tokens/token-new") if m == "PUT"] == [201]
    result = acr.registries.begin_generate_credentials(
        RG, "acrone", {"token_id": f"{TOKENS}/token-new", "name": "password1"}
    ).result()
    assert result.username == "token-new" and [p.name for p in result.passwords] == ["password1"]
    value = result.passwords[0].value
    assert value and result.passwords[0].creation_time is not None
    stored = arm.store.get(f"{TOKENS}/token-new")
    assert stored is not None and stored["properties"]["credentials"]["passwords"][0]["value"] == value
    fetched = acr.tokens.get(RG, "acrone", "token-new")
    assert [(p.name, p.value) for p in fetched.credentials.passwords] == [("password1", None)]
    assert [s for m, _, _, s, _ in arm.log("/operationResults/") if m == "GET"] == [202, 200]
    acr.tokens.begin_delete(RG, "acrone", "token-new").result()
    with pytest.raises(ResourceNotFoundError):
        acr.tokens.get(RG, "acrone", "token-new")
    with pytest.raises(ResourceNotFoundError):
        acr.registries.begin_generate_credentials(RG, "acrone", {"token_id": f"{TOKENS}/token-new"}).result()


# -- faults --------------------------------------------------------------------------------------------
def test_throttled_requests_are_retried_by_the_sdk(arm: Arm) -> None:
    arm.server.set_faults(FaultPlan(throttle=0.34, seed=3))
    compute = arm.compute()
    assert compute.virtual_machines.get(RG, "vm-a").name == "vm-a"
    assert compute.disks.get(RG, "loose").name == "loose"
    assert len(list(compute.virtual_machines.list(RG))) == 5
    log = arm.log()
    statuses = [s for _, _, _, s, _ in log]
    assert 429 in statuses and statuses[-1] == 200
    for index, (_, path, query, status, fault) in enumerate(log):
        if status == 429:
            assert fault == "throttle"
            assert any(p == path and q == query and s == 200 for _, p, q, s, _ in log[index + 1 :])


def test_throttle_and_server_error_responses(arm: Arm) -> None:
    arm.server.set_faults(FaultPlan(throttle=1.0, retry_after=2))
    throttled = arm.raw("DELETE", f"{DISKS}/loose", params={"api-version": "2024-03-02"})
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "TooManyRequests"
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.headers["x-ms-ratelimit-remaining-subscription-deletes"] == "0"
    arm.server.set_faults(FaultPlan(server_error=1.0, error_status=503))
    failed = arm.raw("GET", f"{DISKS}/loose", params={"api-version": "2024-03-02"})
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "InternalServerError"
    assert "Retry-After" not in failed.headers
    assert [f for *_, f in arm.log()] == ["throttle", "server_error"]


def test_truncated_page_drops_next_link(arm: Arm) -> None:
    arm.server.set_faults(FaultPlan(truncate=1.0, path_regex="virtualMachines$"))
    names = _names(arm.compute().virtual_machines.list_all())
    assert names == ["vm-a"]  # a page of 2 cut to 1, and no nextLink to follow
    assert [(s, f) for *_, s, f in arm.log()] == [(200, "truncate")]


def test_unpolled_operations_complete_by_themselves(arm: Arm) -> None:
    arm.emulator.lro_polls_in_progress = 5
    started = arm.raw("DELETE", f"{DISKS}/loose", params={"api-version": "2024-03-02"})
    assert started.status_code == 202 and arm.emulator.pending_operations() == 1
    assert arm.compute().disks.get(RG, "loose").provisioning_state == "Deleting"
    status = arm.raw("GET", started.headers["Azure-AsyncOperation"].removeprefix(arm.server.url))
    assert status.json()["status"] == "InProgress" and status.headers["Retry-After"] == "1"
    location = arm.raw("GET", started.headers["Location"].removeprefix(arm.server.url))
    assert location.status_code == 202 and location.headers["Location"] == started.headers["Location"]
    assert arm.emulator.settle() == 1 and arm.store.get(f"{DISKS}/loose") is None
    arm.raw("DELETE", f"{DISKS}/vm-c-os", params={"api-version": "2024-03-02"})  # attached: refused
    arm.raw("DELETE", f"{PIPS}/pip-free", params={"api-version": "2024-05-01"})
    arm.emulator.operations.auto_complete_s = 0
    try:
        assert arm.network().public_ip_addresses.get(RG, "pip1").name == "pip1"  # any request ages operations
    finally:
        arm.emulator.operations.auto_complete_s = 10.0
    assert arm.store.get(f"{PIPS}/pip-free") is None and arm.emulator.pending_operations() == 0


def test_create_by_put_and_patch_tags(arm: Arm) -> None:
    network = arm.network()
    created = network.network_security_groups.begin_create_or_update(
        RG, "nsg-new", NetworkSecurityGroup(location="westus2", tags={"a": "1"})
    ).result()
    assert [str(created.name), created.location, str(created.provisioning_state)] == ["nsg-new", "westus2", "Succeeded"]
    assert [s for m, _, _, s, _ in arm.log("nsg-new") if m == "PUT"] == [201]
    tagged = network.network_security_groups.update_tags(RG, "nsg-new", TagsObject(tags={"b": "2"}))
    assert tagged.tags == {"b": "2"}
    stored = arm.store.get(f"{NSGS}/nsg-new")
    assert stored is not None and stored["systemData"]["createdAt"]


def test_put_of_existing_vm_keeps_provider_state(arm: Arm) -> None:
    compute = arm.compute()
    vm = compute.virtual_machines.get(RG, "vm-b")
    vm.tags = {"patched": "yes"}
    updated = compute.virtual_machines.begin_create_or_update(RG, "vm-b", vm).result()
    assert updated.tags == {"patched": "yes"} and updated.vm_id == vm.vm_id
    assert [s for m, _, _, s, _ in arm.log("/vm-b") if m == "PUT"] == [200]
    view = compute.virtual_machines.instance_view(RG, "vm-b")
    assert view.statuses is not None and view.statuses[-1].code == "PowerState/stopped"


def test_concurrent_clients(arm: Arm) -> None:
    compute = arm.compute()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: _names(compute.virtual_machines.list_all()), range(16)))
    assert all(r == results[0] for r in results) and len(results[0]) == 5
