"""What the ARM emulator shows: back-references, per-type response rendering, filters and providers.

Forward references (VM -> disks/NICs, NIC -> NSG/public IP) are the stored truth; the matching
back-references (disk `managedBy`/`diskState`, NIC `virtualMachine`, NSG `networkInterfaces`,
public IP `ipConfiguration`) are computed on read by `Relations`, so they cannot drift. Values
seeded directly on the back-reference side are kept when no stored resource claims the link.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from custodian.sandbox.arm_store import (
    DISK_TYPE,
    NIC_TYPE,
    NSG_TYPE,
    PIP_TYPE,
    TOKEN_TYPE,
    VM_TYPE,
    JsonDict,
    id_key,
)


def _get(doc: Any, *path: str) -> Any:
    """doc[path[0]][path[1]]... or None when any step is missing or not an object."""
    for step in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(step)
    return doc


def ref_id(ref: Any) -> str | None:
    """The `id` of a `{"id": ...}` sub-resource reference."""
    value = _get(ref, "id")
    return value if isinstance(value, str) and value else None


def rtype(doc: JsonDict) -> str:
    return str(doc.get("type", "")).lower()


# -- VM helpers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attachment:
    """One disk or NIC a VM references, with its deleteOption (default `Detach`)."""

    resource_id: str
    delete: bool


def vm_disks(vm: JsonDict) -> list[Attachment]:
    storage = _get(vm, "properties", "storageProfile") or {}
    disks = [storage.get("osDisk"), *(storage.get("dataDisks") or [])]
    out = []
    for disk in disks:
        disk_id = ref_id(_get(disk, "managedDisk"))
        if disk_id and isinstance(disk, dict):
            out.append(Attachment(disk_id, str(disk.get("deleteOption") or "Detach").lower() == "delete"))
    return out


def vm_nics(vm: JsonDict) -> list[Attachment]:
    out = []
    for nic in _get(vm, "properties", "networkProfile", "networkInterfaces") or []:
        nic_id = ref_id(nic)
        if nic_id:
            option = _get(nic, "properties", "deleteOption") or "Detach"
            out.append(Attachment(nic_id, str(option).lower() == "delete"))
    return out


def nic_public_ips(nic: JsonDict) -> list[tuple[str, str, bool]]:
    """(ipConfiguration id, public IP id, deleteOption==Delete) for each public IP the NIC uses."""
    out = []
    for conf in _get(nic, "properties", "ipConfigurations") or []:
        pip = _get(conf, "properties", "publicIPAddress")
        pip_id = ref_id(pip)
        if pip_id:
            conf_id = ref_id(conf) or f"{nic['id']}/ipConfigurations/{conf.get('name', 'ipconfig1')}"
            option = str(_get(pip, "properties", "deleteOption") or "Detach").lower()
            out.append((conf_id, pip_id, option == "delete"))
    return out


def default_statuses(now: str) -> list[JsonDict]:
    return [
        {
            "code": "ProvisioningState/succeeded",
            "level": "Info",
            "displayStatus": "Provisioning succeeded",
            "time": now,
        },
        {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"},
    ]


def power_state(vm: JsonDict) -> str:
    for status in _get(vm, "properties", "instanceView", "statuses") or []:
        code = str(status.get("code", ""))
        if code.lower().startswith("powerstate/"):
            return code.split("/", 1)[1].lower()
    return "running"


def set_power_state(vm: JsonDict, state: str, now: str) -> None:
    view: JsonDict = vm.setdefault("properties", {}).setdefault("instanceView", {})
    statuses = [s for s in view.get("statuses") or [] if not str(s.get("code", "")).lower().startswith("powerstate/")]
    if not statuses:
        statuses = default_statuses(now)[:1]
    label = {"running": "VM running", "stopped": "VM stopped", "deallocated": "VM deallocated"}.get(state, state)
    statuses.append({"code": f"PowerState/{state}", "level": "Info", "displayStatus": label})
    view["statuses"] = statuses


def instance_view(vm: JsonDict, now: str) -> JsonDict:
    view = copy.deepcopy(_get(vm, "properties", "instanceView") or {})
    if not view.get("statuses"):
        view["statuses"] = default_statuses(now)
    computer = _get(vm, "properties", "osProfile", "computerName")
    if computer and "computerName" not in view:
        view["computerName"] = computer
    return view


def status_view(vm: JsonDict, now: str) -> JsonDict:
    """A VM as `virtualMachines` lists show it with `statusOnly=true`: run-time status, not the model.

    Real ARM answers such a list with each VM's identity (id, name, type, location) and
    `properties` holding `vmId`, `provisioningState` and an `instanceView` of `statuses` only
    (ProvisioningState with its `time`, PowerState without); no tags, no storage or network
    profile (azure-sdk-for-go#18565: tags and profiles are nil under statusOnly). Clients that need
    both list twice; the emulator keeps that contract so nothing can read tags from this form.
    """
    props = vm.get("properties") if isinstance(vm.get("properties"), dict) else {}
    assert isinstance(props, dict)
    out: JsonDict = {key: vm[key] for key in ("id", "name", "type", "location") if key in vm}
    status_props: JsonDict = {key: props[key] for key in ("vmId", "provisioningState") if key in props}
    status_props["instanceView"] = {"statuses": instance_view(vm, now)["statuses"]}
    out["properties"] = status_props
    return out


# -- back-references ------------------------------------------------------------------------------
@dataclass
class Relations:
    """Back-references derived from the stored forward references, for one store version."""

    disk_vm: dict[str, JsonDict] = field(default_factory=dict)
    nic_vm: dict[str, str] = field(default_factory=dict)
    nsg_nics: dict[str, list[str]] = field(default_factory=dict)
    pip_ipconfig: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, resources: list[JsonDict]) -> Relations:
        rel = cls()
        for doc in resources:
            kind = rtype(doc)
            if kind == VM_TYPE:
                for att in vm_disks(doc):
                    rel.disk_vm.setdefault(id_key(att.resource_id), doc)
                for att in vm_nics(doc):
                    rel.nic_vm.setdefault(id_key(att.resource_id), doc["id"])
            elif kind == NIC_TYPE:
                nsg_id = ref_id(_get(doc, "properties", "networkSecurityGroup"))
                if nsg_id:
                    rel.nsg_nics.setdefault(id_key(nsg_id), []).append(doc["id"])
                for conf_id, pip_id, _ in nic_public_ips(doc):
                    rel.pip_ipconfig.setdefault(id_key(pip_id), conf_id)
        return rel

    def disk_owner(self, disk: JsonDict) -> str | None:
        vm = self.disk_vm.get(id_key(disk["id"]))
        if vm is not None:
            return str(vm["id"])
        managed_by = disk.get("managedBy")
        return managed_by if isinstance(managed_by, str) and managed_by else None

    def nic_owner(self, nic: JsonDict) -> str | None:
        return self.nic_vm.get(id_key(nic["id"])) or ref_id(_get(nic, "properties", "virtualMachine"))

    def pip_config(self, pip: JsonDict) -> str | None:
        return self.pip_ipconfig.get(id_key(pip["id"])) or ref_id(_get(pip, "properties", "ipConfiguration"))

    def nsg_users(self, nsg: JsonDict) -> list[str]:
        seen: dict[str, str] = {}
        stored = _get(nsg, "properties", "networkInterfaces") or []
        for nic_id in [ref_id(r) for r in stored] + self.nsg_nics.get(id_key(nsg["id"]), []):
            if nic_id:
                seen.setdefault(id_key(nic_id), nic_id)
        return list(seen.values())

    def nsg_subnets(self, nsg: JsonDict) -> list[str]:
        return [s for s in (ref_id(r) for r in _get(nsg, "properties", "subnets") or []) if s]


def render(doc: JsonDict, rel: Relations, now: str, *, with_instance_view: bool = False) -> JsonDict:
    """The JSON a GET/list returns for a stored document (a copy, with back-references applied)."""
    out = copy.deepcopy(doc)
    props: JsonDict = out.setdefault("properties", {})
    kind = rtype(doc)
    if kind == VM_TYPE:
        props.pop("instanceView", None)
        if with_instance_view:
            props["instanceView"] = instance_view(doc, now)
    elif kind == DISK_TYPE:
        vm = rel.disk_vm.get(id_key(doc["id"]))
        if vm is not None:
            out["managedBy"] = vm["id"]
            if str(props.get("diskState", "")).lower() not in ("activesas", "activesasfrozen", "frozen"):
                props["diskState"] = "Reserved" if power_state(vm) == "deallocated" else "Attached"
        else:
            props.setdefault("diskState", "Attached" if out.get("managedBy") else "Unattached")
    elif kind == NIC_TYPE:
        owner = rel.nic_owner(doc)
        if owner:
            props["virtualMachine"] = {"id": owner}
    elif kind == PIP_TYPE:
        conf = rel.pip_config(doc)
        if conf:
            props["ipConfiguration"] = {"id": conf}
    elif kind == NSG_TYPE:
        users = rel.nsg_users(doc)
        if users:
            props["networkInterfaces"] = [{"id": u} for u in users]
    elif kind == TOKEN_TYPE:
        for password in _get(props, "credentials", "passwords") or []:
            password.pop("value", None)
    return out


GENERIC_KEYS = ("id", "name", "type", "location", "tags", "sku", "kind", "managedBy", "identity", "plan", "zones")


def generic_view(doc: JsonDict, expand: str | None) -> JsonDict:
    """A `resources.list` item (GenericResourceExpanded): envelope only, plus `$expand` fields."""
    out = {k: copy.deepcopy(doc[k]) for k in GENERIC_KEYS if k in doc}
    wanted = {w.strip().lower() for w in (expand or "").split(",")}
    created = _get(doc, "systemData", "createdAt")
    if "createdtime" in wanted and created:
        out["createdTime"] = created
    if "changedtime" in wanted:
        out["changedTime"] = _get(doc, "systemData", "lastModifiedAt") or created
    if "provisioningstate" in wanted:
        out["provisioningState"] = _get(doc, "properties", "provisioningState") or "Succeeded"
    return out


# -- $filter ----------------------------------------------------------------------------------------
_EQ = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_SUBSTRING = re.compile(r"^\s*substringof\(\s*'((?:[^']|'')*)'\s*,\s*name\s*\)\s*$", re.IGNORECASE)
_FILTER_FIELDS = {"tagname", "tagvalue", "resourcetype", "name", "location", "resourcegroup"}


class FilterError(ValueError):
    """A `$filter` expression the emulator (or ARM) does not understand."""


def parse_filter(text: str | None) -> list[tuple[str, str]]:
    """`tagName eq 'a' and tagValue eq 'b'` -> [("tagname","a"),("tagvalue","b")]."""
    if not text or not text.strip():
        return []
    clauses: list[tuple[str, str]] = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _EQ.match(part)
        if match and match.group(1).lower() in _FILTER_FIELDS:
            clauses.append((match.group(1).lower(), match.group(2).replace("''", "'")))
            continue
        sub = _SUBSTRING.match(part)
        if sub:
            clauses.append(("substringof", sub.group(1).replace("''", "'")))
            continue
        raise FilterError(f"Invalid $filter clause '{part.strip()}'.")
    names = [v for k, v in clauses if k == "tagname"]
    if any(k == "tagvalue" for k, _ in clauses) and not names:
        raise FilterError("A tagValue filter requires a tagName filter.")
    return clauses


def matches(doc: JsonDict, clauses: list[tuple[str, str]]) -> bool:
    tags = {str(k).lower(): v for k, v in (doc.get("tags") or {}).items()}
    tag_name = next((v.lower() for k, v in clauses if k == "tagname"), None)
    for key, value in clauses:
        if key == "tagname" and value.lower() not in tags:
            return False
        if key == "tagvalue" and (tag_name is None or tags.get(tag_name) != value):
            return False
        if key == "resourcetype" and rtype(doc) != value.lower():
            return False
        if key == "name" and str(doc.get("name", "")).lower() != value.lower():
            return False
        if key == "location" and str(doc.get("location", "")).lower() != value.lower():
            return False
        if key == "resourcegroup" and id_key(doc["id"]).split("/")[4:5] != [value.lower()]:
            return False
        if key == "substringof" and value.lower() not in str(doc.get("name", "")).lower():
            return False
    return True


# -- resource providers -------------------------------------------------------------------------------
_LOCATIONS = ["East US", "East US 2", "West US 2", "West Europe", "North Europe"]
_PROVIDERS: dict[str, dict[str, list[str]]] = {
    "Microsoft.Compute": {
        "virtualMachines": ["2024-11-01", "2024-07-01", "2024-03-01", "2023-09-01"],
        "disks": ["2025-01-02-preview", "2024-03-02", "2023-10-02", "2023-04-02"],
        "snapshots": ["2024-03-02", "2023-10-02"],
        "locations/operations": ["2024-11-01", "2024-07-01"],
    },
    "Microsoft.Network": {
        "networkInterfaces": ["2024-05-01", "2024-03-01", "2023-11-01"],
        "publicIPAddresses": ["2024-05-01", "2024-03-01", "2023-11-01"],
        "networkSecurityGroups": ["2024-05-01", "2024-03-01", "2023-11-01"],
        "virtualNetworks": ["2024-05-01", "2024-03-01", "2023-11-01"],
        "locations/operations": ["2024-05-01"],
    },
    "Microsoft.Storage": {
        "storageAccounts": ["2024-01-01", "2023-05-01", "2023-01-01"],
        "storageAccounts/blobServices": ["2024-01-01", "2023-05-01"],
        "storageAccounts/blobServices/containers": ["2024-01-01", "2023-05-01"],
        "locations/operations": ["2024-01-01"],
    },
    "Microsoft.ContainerRegistry": {
        "registries": ["2025-05-01-preview", "2025-04-01", "2023-07-01", "2023-01-01-preview"],
        "registries/tokens": ["2025-05-01-preview", "2025-04-01", "2023-07-01"],
        "registries/scopeMaps": ["2025-05-01-preview", "2025-04-01", "2023-07-01"],
        "registries/generateCredentials": ["2025-04-01", "2023-07-01"],
        "locations/operations": ["2025-04-01"],
    },
    "Microsoft.Resources": {
        "resourceGroups": ["2025-03-01", "2024-11-01", "2024-07-01"],
        "subscriptions": ["2022-12-01", "2021-01-01"],
        "tags": ["2025-03-01", "2024-11-01"],
        "deployments": ["2025-03-01", "2024-11-01"],
    },
}
_DEFAULT_API_VERSIONS = ["2024-01-01", "2023-01-01"]


def provider_namespaces(extra_types: list[str]) -> list[str]:
    names = {ns.lower(): ns for ns in _PROVIDERS}
    for full_type in extra_types:
        ns = full_type.split("/", 1)[0]
        names.setdefault(ns.lower(), ns)
    return [names[k] for k in sorted(names)]


def provider_doc(namespace: str, subscription_id: str | None, extra_types: list[str]) -> JsonDict | None:
    """The `Provider` JSON for a namespace (known catalogue plus types present in the store)."""
    canonical = next((ns for ns in _PROVIDERS if ns.lower() == namespace.lower()), None)
    types: dict[str, list[str]] = dict(_PROVIDERS.get(canonical or "", {}))
    for full_type in extra_types:
        ns, _, rest = full_type.partition("/")
        if ns.lower() == namespace.lower() and rest and rest.lower() not in {t.lower() for t in types}:
            canonical = canonical or ns
            types[rest] = list(_DEFAULT_API_VERSIONS)
    if canonical is None:
        return None
    doc: JsonDict = {
        "id": f"/subscriptions/{subscription_id}/providers/{canonical}"
        if subscription_id
        else f"/providers/{canonical}",
        "namespace": canonical,
        "resourceTypes": [
            {"resourceType": name, "locations": list(_LOCATIONS), "apiVersions": versions, "capabilities": "None"}
            for name, versions in types.items()
        ],
    }
    if subscription_id:
        doc["registrationState"] = "Registered"
        doc["registrationPolicy"] = "RegistrationRequired"
    return doc
