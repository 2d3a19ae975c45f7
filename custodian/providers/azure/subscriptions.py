"""Subscription display names, as ARM lists them (`GET /subscriptions`), for finance reports.

Read-only whatever the run (its own client refuses mutating methods), counted like every ARM
call, with the run's credential, endpoint and CA bundle. A display name is a label: when the
listing fails, reports show the subscription id, and nothing else about the run changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from azure.mgmt.resource import SubscriptionClient

from custodian.providers.azure.clients import ArmSettings, CallCountingPolicy, ReadOnlyGuardPolicy
from custodian.providers.paging import azure_items
from custodian.providers.wire import CallCounter


def subscription_names(settings: ArmSettings, counter: CallCounter, wanted: Iterable[str]) -> dict[str, str]:
    """Subscription id (lower case) -> display name, for the subscriptions in `wanted` that ARM lists."""
    ids = {s.lower() for s in wanted}
    kwargs: dict[str, Any] = {
        "base_url": settings.endpoint,
        "credential_scopes": [settings.endpoint.rstrip("/") + "/.default"],
        "per_call_policies": [ReadOnlyGuardPolicy(True)],
        "per_retry_policies": [CallCountingPolicy(counter)],
        "retry_total": 1,
        "retry_backoff_factor": settings.retry_backoff_factor,
    }
    if settings.ca_bundle:
        kwargs["connection_verify"] = settings.ca_bundle
    client: Any = SubscriptionClient(settings.credential, **kwargs)
    try:
        out: dict[str, str] = {}
        for item in azure_items(client.subscriptions.list(), "subscriptions"):
            subscription = str(item.subscription_id or "").lower()
            if subscription in ids and item.display_name:
                out[subscription] = str(item.display_name)
        return out
    finally:
        client.close()
