"""How finance reports label a priced resource: its subscription and resource group (from the ARM id),
its size or SKU, and its owner and cost centre (from its tags), all read from a finding.

A reaper finding's evidence carries the object's tags as compact JSON (`tags`); a tag key is
matched case-insensitively (Azure tag keys are), and the first configured key with a non-empty
value wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from custodian.model import Finding

SIZE_SKU_KEYS: tuple[str, ...] = (
    "sku",
    "vm_size",
    "vmSize",
    "size",
    "tier",
    "disk_size_gb",
    "diskSizeGB",
    "size_gb",
    "size_bytes",
)
"""Evidence keys whose values describe a resource's size or SKU, in the order they are shown."""

_ARM_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?(?:/providers/(?P<type>[^/]+/[^/]+))?",
    re.IGNORECASE,
)


def arm_parts(*candidates: str | None) -> tuple[str, str]:
    """(subscription, resource group) from the first ARM id or `/subscriptions/...` scope given."""
    for text in candidates:
        match = _ARM_ID.match(text or "")
        if match:
            return match.group("sub"), match.group("rg") or ""
    return "", ""


def size_sku(finding: Finding) -> str:
    parts = [f"{key}={finding.evidence[key]}" for key in SIZE_SKU_KEYS if finding.evidence.get(key)]
    return " ".join(parts)


def evidence_tags(evidence: Mapping[str, str | None]) -> dict[str, str]:
    """The tags in a finding's evidence (`tags`, JSON), lower-cased keys; {} when absent or unreadable."""
    raw = evidence.get("tags")
    if not raw:
        return {}
    try:
        tags = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(tags, dict):
        return {}
    return {str(key).lower(): str(value) for key, value in tags.items() if value is not None}


def tag_value(evidence: Mapping[str, str | None], keys: Sequence[str]) -> str:
    """The value of the first of `keys` tagged (non-empty) on the object, or ""."""
    tags = evidence_tags(evidence)
    for key in keys:
        value = tags.get(key.lower(), "").strip()
        if value:
            return value
    return ""
