"""Resource-provider semantics of the ARM emulator: what PUT, PATCH, DELETE and actions do to the store.

Dependency rules (NIC in use, public IP in use, NSG in use, attached disk), VM deletion with
`deleteOption` cascades, back-reference scrubbing, ACR token create/update/generateCredentials,
storage keys and the Tags API live here; `arm.py` routes requests to these functions while it holds
the store lock. Errors are raised as `ArmError` and become ARM error bodies.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from custodian.sandbox.arm_store import (
    CONTAINER_TYPE,
    DISK_TYPE,
    NIC_TYPE,
    NSG_TYPE,
    PIP_TYPE,
    STORAGE_TYPE,
    VM_TYPE,
    ArmStore,
    JsonDict,
    ResourceId,
    id_key,
)
from custodian.sandbox.arm_views import Relations, nic_public_ips, ref_id, rtype, set_power_state, vm_disks, vm_nics

SYNC_DELETE_TYPES = {STORAGE_TYPE, CONTAINER_TYPE}
_NOT_FOUND_HELP = "For more details please go to https://aka.ms/ARMResourceNotFoundFix"


class ArmError(Exception):
    """An ARM error response: HTTP status plus `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def resource_not_found(rid: ResourceId) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{rid.qualified_name}' under resource group '{rid.resource_group}' was not found. "
        + _NOT_FOUND_HELP,
    )


def group_not_found(name: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


def subscription_not_found(subscription_id: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")


def bad_request(message: str, code: str = "InvalidRequestContent") -> ArmError:
    return ArmError(400, code, message)


def json_object(body: object, what: str = "request body") -> JsonDict:
    if not isinstance(body, dict):
        raise bad_request(f"The {what} must be a JSON object.")
    return body


def deep_merge(base: JsonDict, patch: JsonDict) -> None:
    """Merge `patch` into `base`: objects recursively, everything else (lists too) replaced."""
    for key, value in patch.items():
        current = base.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            deep_merge(current, value)
        else:
            base[key] = value


def touch_modified(store: ArmStore, doc: JsonDict) -> None:
    data = doc.get("systemData")
    if isinstance(data, dict):
        data["lastModifiedAt"] = store.now_iso()
        data["lastModifiedBy"] = data.get("lastModifiedBy") or "release-custodian-sandbox@example.com"


# -- deletes ---------------------------------------------------------------------------------------
def check_deletable(doc: JsonDict, rel: Relations) -> None:
    """Raise the error ARM gives when a resource is still in use."""
    kind = rtype(doc)
    rid = str(doc["id"])
    if kind == NIC_TYPE:
        owner = rel.nic_owner(doc)
        if owner:
            raise ArmError(
                400,
                "NicInUse",
                f"Network Interface {rid} is used by existing resource {owner}. In order to delete the network "
                "interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.",
            )
    elif kind == PIP_TYPE:
        conf = rel.pip_config(doc)
        if conf:
            raise ArmError(
                400,
                "PublicIPAddressCannotBeDeleted",
                f"Public IP address {rid} can not be deleted since it is still allocated to resource {conf}. "
                "In order to delete the public IP, disassociate/detach the Public IP address from the resource. "
                "To learn how to do this, see aka.ms/deletepublicip.",
            )
    elif kind == NSG_TYPE:
        users = rel.nsg_users(doc) + rel.nsg_subnets(doc)
        if users:
            raise ArmError(
                400,
                "InUseNetworkSecurityGroupCannotBeDeleted",
                f"Network security group {rid} cannot be deleted because it is in use by the following resources: "
                f"{', '.join(users)}. In order to delete the Network security group, remove the association with "
                "the resource(s). To learn how to do this, see aka.ms/deletensg.",
            )
    elif kind == DISK_TYPE:
        owner = rel.disk_owner(doc)
        if owner:
            raise ArmError(409, "OperationNotAllowed", f"Disk {doc.get('name')} is attached to VM {owner}.")


def _same(a: Any, b: str) -> bool:
    return isinstance(a, str) and id_key(a) == id_key(b)


def _detach_disk(store: ArmStore, disk_id: str, vm_id: str) -> None:
    disk = store.raw(disk_id)
    if disk is None:
        return
    if disk.get("managedBy") is None or _same(disk.get("managedBy"), vm_id):
        disk.pop("managedBy", None)
        props: JsonDict = disk.setdefault("properties", {})
        props["diskState"] = "Unattached"
        props["LastOwnershipUpdateTime"] = store.now_iso()


def _detach_nic(store: ArmStore, nic_id: str, vm_id: str) -> None:
    nic = store.raw(nic_id)
    if nic is not None and _same(ref_id(nic.get("properties", {}).get("virtualMachine")), vm_id):
        nic["properties"].pop("virtualMachine", None)


def _scrub_nic(store: ArmStore, nic: JsonDict) -> None:
    """Drop stored back-references to a NIC that is going away (NSG list, public IP ipConfiguration)."""
    nic_key = id_key(nic["id"])
    for doc in store.raw_resources():
        props = doc.get("properties")
        if not isinstance(props, dict):
            continue
        if rtype(doc) == NSG_TYPE and isinstance(props.get("networkInterfaces"), list):
            kept = [r for r in props["networkInterfaces"] if id_key(ref_id(r) or "") != nic_key]
            if kept:
                props["networkInterfaces"] = kept
            else:
                props.pop("networkInterfaces")
        elif rtype(doc) == PIP_TYPE:
            conf = ref_id(props.get("ipConfiguration"))
            if conf and id_key(conf).startswith(nic_key + "/"):
                props.pop("ipConfiguration")


def remove_resource(store: ArmStore, resource_id: str, *, cascade: bool = True) -> None:
    """Finish deleting a resource: apply its provider's side effects, then drop it (and its children)."""
    doc = store.raw(resource_id)
    if doc is None:
        return
    kind = rtype(doc)
    if kind == VM_TYPE:
        vm_id = str(doc["id"])
        nics = vm_nics(doc)
        disks = vm_disks(doc)
        store.raw_delete(vm_id)
        for disk in disks:
            if cascade and disk.delete:
                remove_resource(store, disk.resource_id)
            else:
                _detach_disk(store, disk.resource_id, vm_id)
        for nic in nics:
            if cascade and nic.delete:
                nic_doc = store.raw(nic.resource_id)
                pips = nic_public_ips(nic_doc) if nic_doc is not None else []
                remove_resource(store, nic.resource_id)
                for _, pip_id, delete_pip in pips:
                    if delete_pip:
                        remove_resource(store, pip_id)
            else:
                _detach_nic(store, nic.resource_id, vm_id)
        return
    if kind == NIC_TYPE:
        _scrub_nic(store, doc)
    store.raw_delete(str(doc["id"]))


def remove_group(store: ArmStore, group: JsonDict) -> None:
    """Finish deleting a resource group: everything in it goes; references from outside are scrubbed."""
    prefix = id_key(group["id"]) + "/"
    for doc in [d for d in store.raw_resources() if id_key(d["id"]).startswith(prefix)]:
        remove_resource(store, str(doc["id"]), cascade=False)
    store.raw_delete(str(group["id"]))


# -- ACR tokens ----------------------------------------------------------------------------------
def _password_value() -> str:
    return secrets.token_urlsafe(39)


def _passwords(doc: JsonDict) -> list[JsonDict]:
    creds: JsonDict = doc.setdefault("properties", {}).setdefault("credentials", {})
    passwords = creds.get("passwords")
    if not isinstance(passwords, list):
        passwords = creds["passwords"] = []
    return passwords


def _new_password(store: ArmStore, name: str, expiry: Any = None) -> JsonDict:
    entry: JsonDict = {"name": name, "value": _password_value(), "creationTime": store.now_iso()}
    if expiry:
        entry["expiry"] = expiry
    return entry


def create_token(store: ArmStore, rid: ResourceId, body: JsonDict, existing: JsonDict | None) -> JsonDict:
    """PUT tokens/{t}: store the token (provisioningState Creating/Updating) and return the live doc."""
    props = json_object(body.get("properties") or {}, "token properties")
    doc: JsonDict = existing or {"id": str(rid), "properties": {}}
    doc_props: JsonDict = doc.setdefault("properties", {})
    for key in ("scopeMapId", "status"):
        if key in props:
            doc_props[key] = props[key]
    creds = props.get("credentials")
    if isinstance(creds, dict):
        if "certificates" in creds:
            doc_props.setdefault("credentials", {})["certificates"] = creds["certificates"]
        if isinstance(creds.get("passwords"), list):
            passwords = _passwords(doc)
            passwords.clear()
            for item in creds["passwords"]:
                if isinstance(item, dict) and item.get("name"):
                    passwords.append(_new_password(store, str(item["name"]), item.get("expiry")))
    if existing is None:
        store.put(doc)
        stored = store.raw(str(rid))
        assert stored is not None
        doc = stored
        doc["properties"]["provisioningState"] = "Creating"
    else:
        doc_props["provisioningState"] = "Updating"
        touch_modified(store, doc)
    store.touch()
    return doc


def update_token(store: ArmStore, doc: JsonDict, body: JsonDict) -> None:
    """PATCH tokens/{t}: status/scopeMapId; `credentials.passwords` keeps only the passwords it names."""
    props = json_object(body.get("properties") or {}, "token properties")
    doc_props: JsonDict = doc.setdefault("properties", {})
    for key in ("scopeMapId", "status"):
        if key in props:
            doc_props[key] = props[key]
    creds = props.get("credentials")
    if isinstance(creds, dict):
        if "certificates" in creds:
            doc_props.setdefault("credentials", {})["certificates"] = creds["certificates"] or []
        if isinstance(creds.get("passwords"), list):
            current = {str(p.get("name", "")).lower(): p for p in _passwords(doc)}
            kept: list[JsonDict] = []
            for item in creds["passwords"]:
                if not isinstance(item, dict) or not item.get("name"):
                    continue
                entry = current.get(str(item["name"]).lower()) or _new_password(store, str(item["name"]))
                if item.get("expiry"):
                    entry["expiry"] = item["expiry"]
                kept.append(entry)
            doc_props["credentials"]["passwords"] = kept
    doc_props["provisioningState"] = "Succeeded"
    touch_modified(store, doc)
    store.touch()


def generate_credentials(store: ArmStore, registry: ResourceId, body: JsonDict) -> tuple[str, JsonDict]:
    """Validate a generateCredentials request; returns (token id, request body) for the operation."""
    token_id = body.get("tokenId")
    if not isinstance(token_id, str) or not token_id:
        raise bad_request("The 'tokenId' property is required.")
    if not id_key(token_id).startswith(registry.key + "/tokens/"):
        raise bad_request(f"The token '{token_id}' does not belong to registry '{registry.name}'.", "InvalidTokenId")
    token_rid = ResourceId(
        registry.subscription,
        registry.resource_group,
        registry.namespace,
        (*registry.types, "tokens"),
        (*registry.names, token_id.rstrip("/").split("/")[-1]),
    )
    if store.raw(token_id) is None:
        raise resource_not_found(token_rid)
    name = body.get("name")
    if name is not None and str(name).lower() not in ("password1", "password2"):
        raise bad_request("The password name must be 'password1' or 'password2'.")
    return token_id, body


def complete_generate_credentials(store: ArmStore, token_id: str, body: JsonDict) -> JsonDict:
    """Regenerate the password(s) on the token and return the GenerateCredentialsResult."""
    token = store.raw(token_id)
    if token is None:
        return {"username": token_id.rstrip("/").split("/")[-1], "passwords": []}
    names = [str(body["name"]).lower()] if body.get("name") else ["password1", "password2"]
    passwords = _passwords(token)
    fresh = []
    for name in names:
        entry = _new_password(store, name, body.get("expiry"))
        passwords[:] = [p for p in passwords if str(p.get("name", "")).lower() != name]
        passwords.append(entry)
        fresh.append(dict(entry))
    passwords.sort(key=lambda p: str(p.get("name", "")))
    touch_modified(store, token)
    store.touch()
    return {"username": token.get("name"), "passwords": fresh}


# -- storage ----------------------------------------------------------------------------------------
def storage_keys(store: ArmStore, account: JsonDict) -> JsonDict:
    created = account.get("properties", {}).get("keyCreationTime") or {}
    keys = []
    for name in ("key1", "key2"):
        digest = hashlib.sha512(f"{id_key(account['id'])}|{name}".encode()).digest()
        keys.append(
            {
                "keyName": name,
                "value": base64.b64encode(digest).decode(),
                "permissions": "FULL",
                "creationTime": created.get(name) or store.now_iso(),
            }
        )
    return {"keys": keys}


# -- VM power actions ------------------------------------------------------------------------------
VM_ACTIONS = {"poweroff": "stopped", "deallocate": "deallocated", "start": "running", "restart": "running"}


def complete_vm_action(store: ArmStore, vm_id: str, state: str) -> None:
    vm = store.raw(vm_id)
    if vm is not None:
        set_power_state(vm, state, store.now_iso())
        store.touch()


# -- tags ---------------------------------------------------------------------------------------------
def tags_resource(scope: str, tags: dict[str, str]) -> JsonDict:
    return {
        "id": f"{scope.rstrip('/')}/providers/Microsoft.Resources/tags/default",
        "name": "default",
        "type": "Microsoft.Resources/tags",
        "properties": {"tags": dict(tags)},
    }


def body_tags(body: JsonDict) -> dict[str, str]:
    tags = json_object(body.get("properties") or {}, "tags properties").get("tags") or {}
    if not isinstance(tags, dict):
        raise bad_request("'properties.tags' must be an object of strings.")
    return {str(k): str(v) for k, v in tags.items()}


def patch_tags(current: dict[str, str], body: JsonDict) -> dict[str, str]:
    """Tags API PATCH: `operation` Merge (default), Replace or Delete (by name, or name and value)."""
    operation = str(body.get("operation") or "Merge").lower()
    given = body_tags(body)
    if operation == "replace":
        return given
    if operation == "merge":
        return {**current, **given}
    if operation == "delete":
        lowered = {k.lower(): v for k, v in given.items()}
        return {k: v for k, v in current.items() if k.lower() not in lowered or lowered[k.lower()] not in ("", v)}
    raise bad_request(f"The tag operation '{body.get('operation')}' is not one of Merge, Replace, Delete.")


def set_tags(doc: JsonDict, tags: dict[str, str]) -> None:
    doc["tags"] = dict(tags)
