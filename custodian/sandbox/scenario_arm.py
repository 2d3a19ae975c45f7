"""ARM JSON builders: turn a scenario's `azure:` section into the resources an ARM store serves.

Shapes follow API-CONTRACTS.md sections 2 (compute), 3 (network), 4.1 (storage accounts) and 5 (ACR):
ids are ``/subscriptions/{s}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}``; back-references
are derived, never written by hand in the scenario (a disk's top-level ``managedBy`` and ``diskState``,
a NIC's ``virtualMachine``, a public IP's ``ipConfiguration``, an NSG's ``networkInterfaces``).

Like real ARM, references to disks from a VM (``managedDisk.id``) and a disk's ``managedBy`` carry the
resource group in upper case: consumers must compare ids case-insensitively. Generated values (GUIDs,
IP and MAC addresses, token passwords) are derived from the resource id, so a scenario seeds the same
JSON every time.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from custodian.sandbox.scenario_schema import (
    DiskSpec,
    NicRef,
    NicSpec,
    RegistrySpec,
    ResourceGroupSpec,
    Scenario,
    VmSpec,
    When,
)

Json = dict[str, Any]

VM_TYPE = "Microsoft.Compute/virtualMachines"
DISK_TYPE = "Microsoft.Compute/disks"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
PIP_TYPE = "Microsoft.Network/publicIPAddresses"
NSG_TYPE = "Microsoft.Network/networkSecurityGroups"
STORAGE_TYPE = "Microsoft.Storage/storageAccounts"
REGISTRY_TYPE = "Microsoft.ContainerRegistry/registries"
SCOPE_MAP_TYPE = "Microsoft.ContainerRegistry/registries/scopeMaps"
TOKEN_TYPE = "Microsoft.ContainerRegistry/registries/tokens"

SYSTEM_SCOPE_MAPS: dict[str, list[str]] = {
    "_repositories_pull": ["repositories/*/content/read"],
    "_repositories_push": ["repositories/*/content/read", "repositories/*/content/write"],
    "_repositories_admin": [
        "repositories/*/metadata/read",
        "repositories/*/metadata/write",
        "repositories/*/content/read",
        "repositories/*/content/write",
        "repositories/*/content/delete",
    ],
}

_NAMESPACE = uuid.UUID("8f4a52f0-0c3e-4e0b-9a57-5b1c2d3e4f60")


@dataclass(frozen=True)
class ResourceGroupPlan:
    subscription_id: str
    name: str
    location: str
    tags: dict[str, str]


@dataclass
class ArmPlan:
    """Everything to put into an ARM store, in creation order."""

    subscriptions: list[tuple[str, str]] = field(default_factory=list)
    resource_groups: list[ResourceGroupPlan] = field(default_factory=list)
    resources: list[Json] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Json]:
        return [r for r in self.resources if r["type"].lower() == type_.lower()]


# --------------------------------------------------------------------------------------------------
# Helpers


def arm_time(when: datetime) -> str:
    """ARM compute/network style: ``2024-01-02T03:04:05.1234560+00:00`` (7 fraction digits)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


def acr_time(when: datetime) -> str:
    """ACR style: ``2017-03-01T23:14:37.0707800Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def stable_guid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts).lower()))


def _stable_bytes(*parts: str) -> bytes:
    return hashlib.sha256("/".join(parts).lower().encode()).digest()


def stable_secret(*parts: str) -> str:
    """A deterministic 52-character password-like value (ACR passwords look like this)."""
    return base64.b64encode(_stable_bytes("secret", *parts) * 2).decode()[:52].replace("/", "x").replace("+", "y")


def resource_group_id(subscription_id: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"


def resource_id(subscription_id: str, resource_group: str, type_: str, name: str) -> str:
    return f"{resource_group_id(subscription_id, resource_group)}/providers/{type_}/{name}"


def _at(when: When | None, now: datetime) -> datetime:
    return now if when is None else when.resolve(now)


def _envelope(id_: str, name: str, type_: str, location: str, tags: dict[str, str], created: datetime) -> Json:
    body: Json = {"id": id_, "name": name, "type": type_, "location": location}
    if tags:
        body["tags"] = dict(tags)
    body["systemData"] = {
        "createdBy": "release-pipeline",
        "createdByType": "Application",
        "createdAt": arm_time(created),
        "lastModifiedBy": "release-pipeline",
        "lastModifiedByType": "Application",
        "lastModifiedAt": arm_time(created),
    }
    return body


_DISK_TIERS = [(4, 1), (8, 2), (16, 3), (32, 4), (64, 6), (128, 10), (256, 15), (512, 20), (1024, 30), (2048, 40)]


def _disk_tier(sku: str, size_gb: int) -> str | None:
    if not sku.startswith("Premium_"):
        return None
    for limit, number in _DISK_TIERS:
        if size_gb <= limit:
            return f"P{number}"
    return "P50" if size_gb <= 4096 else "P60"


def _sku_tier(sku: str) -> str:
    if sku.startswith("Premium"):
        return "Premium"
    if sku.startswith("UltraSSD"):
        return "Ultra"
    return "Standard"


_IMAGES: dict[str, Json] = {
    "Linux": {
        "publisher": "Canonical",
        "offer": "0001-com-ubuntu-server-jammy",
        "sku": "22_04-lts-gen2",
        "version": "latest",
    },
    "Windows": {
        "publisher": "MicrosoftWindowsServer",
        "offer": "WindowsServer",
        "sku": "2022-datacenter-azure-edition",
        "version": "latest",
    },
}

_DISPLAY = {"running": "VM running", "stopped": "VM stopped", "deallocated": "VM deallocated"}


def _default_nsg_rules(nsg_id: str) -> list[Json]:
    rules = [
        ("AllowVnetInBound", "Inbound", "Allow", 65000, "VirtualNetwork", "VirtualNetwork"),
        ("AllowAzureLoadBalancerInBound", "Inbound", "Allow", 65001, "AzureLoadBalancer", "*"),
        ("DenyAllInBound", "Inbound", "Deny", 65500, "*", "*"),
        ("AllowVnetOutBound", "Outbound", "Allow", 65000, "VirtualNetwork", "VirtualNetwork"),
        ("AllowInternetOutBound", "Outbound", "Allow", 65001, "*", "Internet"),
        ("DenyAllOutBound", "Outbound", "Deny", 65500, "*", "*"),
    ]
    return [
        {
            "id": f"{nsg_id}/defaultSecurityRules/{name}",
            "name": name,
            "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
            "properties": {
                "provisioningState": "Succeeded",
                "protocol": "*",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "sourceAddressPrefix": source,
                "destinationAddressPrefix": destination,
                "access": access,
                "priority": priority,
                "direction": direction,
                "description": "Default rule",
            },
        }
        for name, direction, access, priority, source, destination in rules
    ]


# --------------------------------------------------------------------------------------------------
# One resource group


@dataclass(frozen=True)
class _DiskUse:
    vm: VmSpec
    os: bool
    delete_option: str


@dataclass(frozen=True)
class _NicUse:
    vm: VmSpec
    primary: bool
    delete_option: str


class _ResourceGroupBuilder:
    def __init__(self, subscription_id: str, rg: ResourceGroupSpec, now: datetime) -> None:
        self.sub = subscription_id
        self.rg = rg
        self.now = now
        self.disk_uses: dict[str, _DiskUse] = {}
        self.nic_uses: dict[str, _NicUse] = {}
        self.disks = {disk.name.lower(): disk for disk in rg.disks}
        for vm in rg.vms:
            self.disk_uses[vm.os_disk.disk.lower()] = _DiskUse(vm, True, vm.os_disk.delete_option)
            for data_ref in vm.data_disks:
                self.disk_uses[data_ref.disk.lower()] = _DiskUse(vm, False, data_ref.delete_option)
            for nic_ref in vm.nics:
                self.nic_uses[nic_ref.nic.lower()] = _NicUse(vm, _is_primary(vm, nic_ref), nic_ref.delete_option)
        self.pip_users = {nic.public_ip.lower(): nic for nic in rg.nics if nic.public_ip}

    # ids
    def id(self, type_: str, name: str) -> str:
        return resource_id(self.sub, self.rg.name, type_, name)

    def upper_id(self, type_: str, name: str) -> str:
        """The id as ARM writes it in disk references: resource group in upper case."""
        return resource_id(self.sub, self.rg.name.upper(), type_, name)

    def subnet_id(self, subnet: str | None) -> str:
        vnet, _, name = (subnet or f"{self.rg.name}-vnet/default").partition("/")
        vnet_id = resource_id(self.sub, self.rg.name, "Microsoft.Network/virtualNetworks", vnet)
        return f"{vnet_id}/subnets/{name}"

    def ipconfig_name(self, nic: NicSpec) -> str:
        if nic.private_endpoint:
            return f"privateEndpointIpConfig.{stable_guid(self.id(NIC_TYPE, nic.name), 'ipconfig')}"
        return "ipconfig1"

    def build(self) -> list[Json]:
        loc = self.rg.location
        out: list[Json] = []
        out += [self.nsg(nsg.name, nsg.tags, nsg.subnets, _at(nsg.time_created, self.now), loc) for nsg in self.rg.nsgs]
        out += [self.public_ip(pip_index, loc) for pip_index in range(len(self.rg.public_ips))]
        out += [self.disk(disk, loc) for disk in self.rg.disks]
        out += [self.nic(nic, loc) for nic in self.rg.nics]
        out += [self.vm(vm, loc) for vm in self.rg.vms]
        out += [self.storage_account(index, loc) for index in range(len(self.rg.storage_accounts))]
        for registry in self.rg.registries:
            out += self.registry(registry, loc)
        return out

    # network
    def nsg(self, name: str, tags: dict[str, str], subnets: list[str], created: datetime, loc: str) -> Json:
        nsg_id = self.id(NSG_TYPE, name)
        body = _envelope(nsg_id, name, NSG_TYPE, loc, tags, created)
        body["etag"] = f'W/"{stable_guid(nsg_id, "etag")}"'
        props: Json = {
            "provisioningState": "Succeeded",
            "resourceGuid": stable_guid(nsg_id),
            "securityRules": [],
            "defaultSecurityRules": _default_nsg_rules(nsg_id),
        }
        nic_ids = [
            {"id": self.id(NIC_TYPE, nic.name)} for nic in self.rg.nics if nic.nsg and nic.nsg.lower() == name.lower()
        ]
        if nic_ids:
            props["networkInterfaces"] = nic_ids
        if subnets:
            props["subnets"] = [{"id": self.subnet_id(subnet)} for subnet in subnets]
        body["properties"] = props
        return body

    def public_ip(self, index: int, loc: str) -> Json:
        pip = self.rg.public_ips[index]
        pip_id = self.id(PIP_TYPE, pip.name)
        body = _envelope(pip_id, pip.name, PIP_TYPE, loc, pip.tags, _at(pip.time_created, self.now))
        body["etag"] = f'W/"{stable_guid(pip_id, "etag")}"'
        body["sku"] = {"name": pip.sku, "tier": "Regional"}
        if pip.zones:
            body["zones"] = list(pip.zones)
        props: Json = {
            "provisioningState": "Succeeded",
            "resourceGuid": stable_guid(pip_id),
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": pip.allocation,
            "idleTimeoutInMinutes": 4,
            "ipTags": [],
        }
        user = self.pip_users.get(pip.name.lower())
        if pip.ip_address or pip.allocation == "Static" or user is not None:
            raw = _stable_bytes(pip_id, "ip")
            props["ipAddress"] = pip.ip_address or f"20.{raw[0] % 200 + 20}.{raw[1]}.{raw[2] % 250 + 4}"
        if user is not None:
            nic_id = self.id(NIC_TYPE, user.name)
            props["ipConfiguration"] = {"id": f"{nic_id}/ipConfigurations/{self.ipconfig_name(user)}"}
        if pip.nat_gateway:
            props["natGateway"] = {"id": self.id("Microsoft.Network/natGateways", pip.nat_gateway)}
        body["properties"] = props
        return body

    def nic(self, nic: NicSpec, loc: str) -> Json:
        nic_id = self.id(NIC_TYPE, nic.name)
        body = _envelope(nic_id, nic.name, NIC_TYPE, loc, nic.tags, _at(nic.time_created, self.now))
        body["etag"] = f'W/"{stable_guid(nic_id, "etag")}"'
        raw = _stable_bytes(nic_id, "ip")
        ipconfig_name = self.ipconfig_name(nic)
        ip_props: Json = {
            "provisioningState": "Succeeded",
            "privateIPAddress": nic.private_ip or f"10.{raw[0]}.{raw[1]}.{raw[2] % 250 + 4}",
            "privateIPAllocationMethod": "Dynamic",
            "privateIPAddressVersion": "IPv4",
            "primary": True,
            "subnet": {"id": self.subnet_id(nic.subnet)},
        }
        if nic.public_ip:
            ip_props["publicIPAddress"] = {"id": self.id(PIP_TYPE, nic.public_ip)}
        props: Json = {
            "provisioningState": "Succeeded",
            "resourceGuid": stable_guid(nic_id),
            "ipConfigurations": [
                {
                    "id": f"{nic_id}/ipConfigurations/{ipconfig_name}",
                    "name": ipconfig_name,
                    "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                    "properties": ip_props,
                }
            ],
            "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
            "enableAcceleratedNetworking": False,
            "enableIPForwarding": False,
            "disableTcpStateTracking": False,
            "nicType": "Standard",
            "hostedWorkloads": list(nic.hosted_workloads),
            "tapConfigurations": [],
            "vnetEncryptionSupported": False,
        }
        use = self.nic_uses.get(nic.name.lower())
        if use is not None:
            props["virtualMachine"] = {"id": self.id(VM_TYPE, use.vm.name)}
            props["primary"] = use.primary
            mac = _stable_bytes(nic_id, "mac")
            props["macAddress"] = "00-0D-3A-" + "-".join(f"{b:02X}" for b in mac[:3])
        if nic.private_endpoint:
            props["privateEndpoint"] = {"id": self.id("Microsoft.Network/privateEndpoints", nic.private_endpoint)}
        if nic.nsg:
            props["networkSecurityGroup"] = {"id": self.id(NSG_TYPE, nic.nsg)}
        body["properties"] = props
        return body

    # compute
    def disk(self, disk: DiskSpec, loc: str) -> Json:
        disk_id = self.id(DISK_TYPE, disk.name)
        created = _at(disk.time_created, self.now)
        body = _envelope(disk_id, disk.name, DISK_TYPE, loc, disk.tags, created)
        use = self.disk_uses.get(disk.name.lower())
        state: str = disk.state or "Unattached"
        if use is not None:
            body["managedBy"] = self.upper_id(VM_TYPE, use.vm.name)
            state = "Reserved" if use.vm.power_state == "deallocated" else "Attached"
        elif disk.managed_by:
            body["managedBy"] = disk.managed_by
            state = "Attached"
        body["sku"] = {"name": disk.sku, "tier": _sku_tier(disk.sku)}
        if disk.zones:
            body["zones"] = list(disk.zones)
        os_type = disk.os_type or (use.vm.os_type if use is not None and use.os else None)
        creation: Json
        if disk.creation_data is not None:
            creation = {"createOption": disk.creation_data.create_option}
            if disk.creation_data.source_resource_id:
                creation["sourceResourceId"] = disk.creation_data.source_resource_id
            if disk.creation_data.source_uri:
                creation["sourceUri"] = disk.creation_data.source_uri
        elif use is not None and use.os:
            image = _IMAGES[use.vm.os_type]
            image_id = (
                f"/Subscriptions/{self.sub}/Providers/Microsoft.Compute/Locations/{loc}/Publishers/{image['publisher']}"
                f"/ArtifactTypes/VMImage/Offers/{image['offer']}/Skus/{image['sku']}/Versions/1.0.0"
            )
            creation = {"createOption": "FromImage", "imageReference": {"id": image_id}}
        else:
            creation = {"createOption": "Empty"}
        props: Json = {
            "timeCreated": arm_time(created),
            "diskSizeGB": disk.size_gb,
            "diskSizeBytes": disk.size_gb * 1024**3,
            "diskState": state,
            "provisioningState": "Succeeded",
            "uniqueId": stable_guid(disk_id),
            "creationData": creation,
            "diskIOPSReadWrite": 500 if disk.size_gb <= 128 else 2300,
            "diskMBpsReadWrite": 60 if disk.size_gb <= 128 else 150,
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "networkAccessPolicy": "AllowAll",
            "publicNetworkAccess": "Enabled",
        }
        if os_type:
            props["osType"] = os_type
            props["hyperVGeneration"] = "V2"
        tier = _disk_tier(disk.sku, disk.size_gb)
        if tier:
            props["tier"] = tier
        if "managedBy" in body:
            owner_created = _at(use.vm.time_created, self.now) if use is not None else created
            props["LastOwnershipUpdateTime"] = arm_time(max(owner_created, created))
        body["properties"] = props
        return body

    def vm(self, vm: VmSpec, loc: str) -> Json:
        vm_id = self.id(VM_TYPE, vm.name)
        created = _at(vm.time_created, self.now)
        since = _at(vm.power_state_since, self.now) if vm.power_state_since else created
        body = _envelope(vm_id, vm.name, VM_TYPE, loc, vm.tags, created)
        if vm.zones:
            body["zones"] = list(vm.zones)
        os_disk = self.disks[vm.os_disk.disk.lower()]
        data_disks = []
        for lun, ref in zip(_luns(vm), vm.data_disks, strict=True):
            disk = self.disks[ref.disk.lower()]
            data_disks.append(
                {
                    "lun": lun,
                    "name": disk.name,
                    "createOption": "Attach",
                    "caching": "None",
                    "diskSizeGB": disk.size_gb,
                    "managedDisk": {"id": self.upper_id(DISK_TYPE, disk.name), "storageAccountType": disk.sku},
                    "toBeDetached": False,
                    "deleteOption": ref.delete_option,
                }
            )
        os_profile: Json = {
            "computerName": vm.name[:15] if vm.os_type == "Windows" else vm.name[:64],
            "adminUsername": "azureuser",
        }
        if vm.os_type == "Linux":
            os_profile["linuxConfiguration"] = {"disablePasswordAuthentication": True, "provisionVMAgent": True}
        else:
            os_profile["windowsConfiguration"] = {"provisionVMAgent": True, "enableAutomaticUpdates": True}
        body["properties"] = {
            "vmId": stable_guid(vm_id),
            "provisioningState": "Succeeded",
            "timeCreated": arm_time(created),
            "hardwareProfile": {"vmSize": vm.size},
            "storageProfile": {
                "imageReference": dict(_IMAGES[vm.os_type]),
                "osDisk": {
                    "osType": vm.os_type,
                    "name": os_disk.name,
                    "createOption": "FromImage",
                    "caching": "ReadWrite",
                    "diskSizeGB": os_disk.size_gb,
                    "managedDisk": {"id": self.upper_id(DISK_TYPE, os_disk.name), "storageAccountType": os_disk.sku},
                    "deleteOption": vm.os_disk.delete_option,
                },
                "dataDisks": data_disks,
                "diskControllerType": "SCSI",
            },
            "osProfile": os_profile,
            "networkProfile": {
                "networkInterfaces": [
                    {
                        "id": self.id(NIC_TYPE, ref.nic),
                        "properties": {"primary": _is_primary(vm, ref), "deleteOption": ref.delete_option},
                    }
                    for ref in vm.nics
                ]
            },
            "instanceView": {
                "statuses": [
                    {
                        "code": "ProvisioningState/succeeded",
                        "level": "Info",
                        "displayStatus": "Provisioning succeeded",
                        "time": arm_time(since),
                    },
                    {
                        "code": f"PowerState/{vm.power_state}",
                        "level": "Info",
                        "displayStatus": _DISPLAY[vm.power_state],
                    },
                ]
            },
        }
        return body

    # storage and registries
    def storage_account(self, index: int, loc: str) -> Json:
        account = self.rg.storage_accounts[index]
        account_id = self.id(STORAGE_TYPE, account.name)
        created = _at(account.time_created, self.now)
        body = _envelope(account_id, account.name, STORAGE_TYPE, loc, account.tags, created)
        body["sku"] = {"name": account.sku, "tier": "Premium" if account.sku.startswith("Premium") else "Standard"}
        body["kind"] = account.kind
        endpoints = {
            service: f"https://{account.name}.{service}.core.windows.net/"
            for service in ("blob", "queue", "table", "file", "dfs")
        }
        endpoints["web"] = f"https://{account.name}.z13.web.core.windows.net/"
        body["properties"] = {
            "provisioningState": "Succeeded",
            "creationTime": arm_time(created),
            "primaryEndpoints": endpoints,
            "primaryLocation": loc,
            "statusOfPrimary": "available",
            "accessTier": account.access_tier,
            "allowBlobPublicAccess": False,
            "minimumTlsVersion": "TLS1_2",
            "allowSharedKeyAccess": True,
            "isHnsEnabled": False,
            "supportsHttpsTrafficOnly": True,
            "networkAcls": {
                "bypass": "AzureServices",
                "defaultAction": "Allow",
                "ipRules": [],
                "virtualNetworkRules": [],
            },
            "encryption": {
                "keySource": "Microsoft.Storage",
                "services": {
                    "blob": {"enabled": True, "keyType": "Account"},
                    "file": {"enabled": True, "keyType": "Account"},
                },
            },
            "keyCreationTime": {"key1": arm_time(created), "key2": arm_time(created)},
        }
        return body

    def registry(self, registry: RegistrySpec, loc: str) -> list[Json]:
        registry_id = self.id(REGISTRY_TYPE, registry.name)
        created = _at(registry.time_created, self.now)
        tags = {"registry-stage": registry.stage, "registry-kind": registry.kind, **registry.tags}
        body = _envelope(registry_id, registry.name, REGISTRY_TYPE, loc, tags, created)
        body["sku"] = {"name": registry.sku, "tier": registry.sku}
        body["properties"] = {
            "loginServer": f"{registry.name.lower()}.azurecr.io",
            "creationDate": acr_time(created),
            "provisioningState": "Succeeded",
            "adminUserEnabled": False,
            "publicNetworkAccess": "Enabled",
            "networkRuleBypassOptions": "AzureServices",
            "zoneRedundancy": "Disabled",
            "anonymousPullEnabled": False,
            "dataEndpointEnabled": False,
        }
        out = [body]
        scope_maps = dict(SYSTEM_SCOPE_MAPS)
        for token in registry.tokens:
            scope_maps.setdefault(token.scope_map, ["repositories/*/content/read"])
        for name, actions in scope_maps.items():
            out.append(
                {
                    "id": f"{registry_id}/scopeMaps/{name}",
                    "name": name,
                    "type": SCOPE_MAP_TYPE,
                    "properties": {
                        "description": f"Can {name.rsplit('_', 1)[-1]} from any repository"
                        if name.startswith("_")
                        else "",
                        "type": "SystemDefined" if name.startswith("_") else "UserDefined",
                        "creationDate": acr_time(created),
                        "provisioningState": "Succeeded",
                        "actions": list(actions),
                    },
                }
            )
        for token in registry.tokens:
            token_id = f"{registry_id}/tokens/{token.name}"
            passwords = []
            for password in token.passwords:
                entry: Json = {"name": password.name, "creationTime": acr_time(password.created.resolve(self.now))}
                if password.expiry is not None:
                    entry["expiry"] = acr_time(password.expiry.resolve(self.now))
                entry["value"] = password.value or stable_secret(token_id, password.name)
                passwords.append(entry)
            out.append(
                {
                    "id": token_id,
                    "name": token.name,
                    "type": TOKEN_TYPE,
                    "properties": {
                        "creationDate": acr_time(_at(token.created, self.now)),
                        "provisioningState": "Succeeded",
                        "scopeMapId": f"{registry_id}/scopeMaps/{token.scope_map}",
                        "status": token.status,
                        "credentials": {"certificates": [], "passwords": passwords},
                    },
                }
            )
        return out


def _is_primary(vm: VmSpec, ref: NicRef) -> bool:
    if any(other.primary for other in vm.nics):
        return bool(ref.primary)
    return ref is vm.nics[0]


def _luns(vm: VmSpec) -> list[int]:
    """Each data disk's lun: the explicit one, else the smallest lun not yet taken."""
    taken = {ref.lun for ref in vm.data_disks if ref.lun is not None}
    result = []
    for ref in vm.data_disks:
        if ref.lun is not None:
            result.append(ref.lun)
            continue
        lun = next(n for n in range(64) if n not in taken)
        taken.add(lun)
        result.append(lun)
    return result


def build_arm(scenario: Scenario, now: datetime) -> ArmPlan:
    """The ARM plan of a (checked) scenario, with every scenario time resolved against `now`."""
    plan = ArmPlan()
    for sub in scenario.azure.subscriptions:
        plan.subscriptions.append((sub.id, sub.name))
        for rg in sub.resource_groups:
            plan.resource_groups.append(ResourceGroupPlan(sub.id, rg.name, rg.location, dict(rg.tags)))
            plan.resources.extend(_ResourceGroupBuilder(sub.id, rg, now).build())
    return plan
