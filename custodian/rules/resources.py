"""How reaping rules describe an Azure resource or a blob: subject, evidence, labels (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from custodian.model import AzureResource, Blob, ResourceKind, Subject, Tags
from custodian.rules.reaping import ReapSettings, iso
from custodian.rules.release_tags import ReleaseLabel, read_release_tags


def label_of(tags: Tags, settings: ReapSettings, known_versions: Iterable[str]) -> ReleaseLabel:
    return read_release_tags(tags, settings.version_tag_key, settings.stage_tag_key, known_versions)


def tags_json(tags: Tags) -> str:
    return json.dumps(tags.as_dict(), sort_keys=True, separators=(",", ":"))


def resource_subject(resource: AzureResource, label: ReleaseLabel) -> Subject:
    return Subject(
        provider="azure",
        kind=resource.kind.value,
        provider_name=resource.name,
        version=label.version or label.version_raw,
        stage=label.stage,
        resource_id=resource.id,
        scope=resource.unit,
    )


def blob_subject(blob: Blob, label: ReleaseLabel) -> Subject:
    return Subject(
        provider="azure",
        kind=ResourceKind.BLOB.value,
        provider_name=blob.path,
        version=label.version or label.version_raw,
        stage=label.stage,
        resource_id=blob.url,
        scope=blob.unit,
    )


def resource_label(resource: AzureResource) -> str:
    return f"{resource.kind.label} {resource.name}"


def resource_evidence(resource: AzureResource, policy: str | None = None) -> dict[str, str | None]:
    facts = resource.facts
    evidence: dict[str, str | None] = {
        "subscription": resource.scope.name,
        "resource_group": resource.resource_group,
        "type": resource.arm_type,
        "location": resource.location,
        "tags": tags_json(resource.tags),
        "time_created": iso(resource.created_at),
    }
    if policy:
        evidence["policy"] = policy
    if resource.kind is ResourceKind.VIRTUAL_MACHINE:
        evidence |= {
            "size": facts.vm_size,
            "power_state": facts.power_state,
            "power_state_since": iso(facts.power_state_since),
            "deleted_with_it": ",".join(c.resource_id.rsplit("/", 1)[-1] for c in resource.deleted_with()) or None,
        }
    elif resource.kind is ResourceKind.DISK:
        evidence |= {
            "sku": facts.sku,
            "size_gb": None if facts.disk_size_gb is None else f"{facts.disk_size_gb:g}",
            "disk_state": facts.disk_state,
            "last_ownership_update": iso(facts.last_ownership_update),
        }
    elif resource.kind is ResourceKind.PUBLIC_IP:
        evidence |= {"sku": facts.sku or "Basic", "ip_address": facts.ip_address}
    elif resource.kind is ResourceKind.NETWORK_SECURITY_GROUP:
        evidence |= {"network_interfaces": str(facts.network_interfaces), "subnets": str(facts.subnets)}
    attached = [a.reason for a in resource.attachments]
    if attached:
        evidence["attached"] = "; ".join(attached)
    if resource.managed_by:
        evidence["managed_by"] = resource.managed_by
    return evidence


def blob_evidence(blob: Blob) -> dict[str, str | None]:
    return {
        "account": blob.account,
        "container": blob.container,
        "size_bytes": str(blob.size),
        "tier": blob.tier or "Hot",
        "last_modified": iso(blob.last_modified),
        "tags": tags_json(blob.tags),
        "subscription": blob.scope.name if blob.scope else None,
    }
