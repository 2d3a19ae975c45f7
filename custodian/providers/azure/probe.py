"""One cheap read-only ARM request per subscription, for `config validate --check-connections`.

`GET /subscriptions/{id}` with the configured credential, endpoint and CA bundle, read-only on the
wire and with the settings' timeouts and retries (the check passes short ones and no retries, so an
endpoint that never answers fails in seconds). It proves the endpoint answers, the credential gets
a token ARM accepts, and the subscription is visible to it.
"""

from __future__ import annotations

from typing import Any

from azure.mgmt.resource import SubscriptionClient

from custodian.providers.azure.clients import ArmSettings, CallCountingPolicy, ReadOnlyGuardPolicy
from custodian.providers.wire import CallCounter


def read_subscription(settings: ArmSettings, counter: CallCounter, subscription: str) -> str:
    """The subscription as ARM shows it ("display name, state"); the SDK's error when it cannot be read."""
    kwargs: dict[str, Any] = {
        "base_url": settings.endpoint,
        "credential_scopes": [settings.endpoint.rstrip("/") + "/.default"],
        "per_call_policies": [ReadOnlyGuardPolicy(True)],
        "per_retry_policies": [CallCountingPolicy(counter)],
        "retry_total": settings.retry_total,
        "retry_backoff_factor": settings.retry_backoff_factor,
        "connection_timeout": settings.connection_timeout_s,
        "read_timeout": settings.read_timeout_s,
    }
    if settings.ca_bundle:
        kwargs["connection_verify"] = settings.ca_bundle
    client: Any = SubscriptionClient(settings.credential, **kwargs)
    try:
        found = client.subscriptions.get(subscription)
        return f"{found.display_name or found.subscription_id}, {found.state or 'state unknown'}"
    finally:
        client.close()
