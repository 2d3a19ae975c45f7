"""Building azure-mgmt clients: endpoint, credential, CA bundle, read-only guard and call counting.

Every client gets two pipeline policies: a per-call guard that refuses mutating methods in a
read-only (audit) run before anything is sent, and a per-retry counter (every attempt is a call).

And a retry policy that never sends a change twice (`ReadRetryPolicy`): azure-core's default
retries DELETE and PUT after a lost answer (a dropped connection, a read timeout) and POST and PATCH
after a 500, 503 or 504, but ARM may have carried the first one out (a DELETE accepted, its answer
lost): the SDK would then delete twice before the executor's re-read could see it. Here only reads
(GET, HEAD, OPTIONS, TRACE) are retried on errors and error statuses; a change is retried only when
the answer says it was not carried out and when to come back (a 429 or 503 with `Retry-After`,
which azure-core honours for every method). A change whose answer is lost fails, and the executor
re-reads its target before journaling it (`engine/execute.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

from custodian.providers.wire import CallCounter, check_method

ClientT = TypeVar("ClientT")


class StaticTokenCredential:
    """A bearer token handed in by configuration (e.g. from `az account get-access-token`)."""

    def __init__(self, token: str, lifetime_s: int = 3600) -> None:
        self._token = token
        self._lifetime_s = lifetime_s

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + self._lifetime_s)


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ReadRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's retry policy, retrying reads only (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._method_whitelist = READ_METHODS

    def _is_method_retryable(self, settings: dict[str, Any], request: Any, response: Any = None) -> bool:
        return str(request.method).upper() in READ_METHODS


class ReadOnlyGuardPolicy(SansIOHTTPPolicy[Any, Any]):
    def __init__(self, read_only: bool) -> None:
        self._read_only = read_only

    def on_request(self, request: PipelineRequest[Any]) -> None:
        check_method(request.http_request.method, request.http_request.url, self._read_only)


class CallCountingPolicy(SansIOHTTPPolicy[Any, Any]):
    def __init__(self, counter: CallCounter, provider: str = "azure") -> None:
        self._counter = counter
        self._provider = provider

    def on_request(self, request: PipelineRequest[Any]) -> None:
        self._counter.add(self._provider, request.http_request.method)


@dataclass(frozen=True)
class ArmSettings:
    endpoint: str
    credential: TokenCredential
    ca_bundle: str | None = None
    read_only: bool = True
    polling_interval_s: float = 5.0
    retry_backoff_factor: float = 0.8
    connection_timeout_s: float = 10.0  # per call: an endpoint that never answers fails in seconds
    read_timeout_s: float = 60.0
    retry_total: int = 3  # azure-core's default is 10


class ArmClients:
    """Creates (and caches) one client per (class, subscription), all sharing guard and counter."""

    def __init__(self, settings: ArmSettings, counter: CallCounter) -> None:
        self.settings = settings
        self.counter = counter
        self._cache: dict[tuple[object, str], Any] = {}

    def get(self, client_class: Callable[..., ClientT], subscription_id: str) -> ClientT:
        key = (client_class, subscription_id)
        if key not in self._cache:
            kwargs: dict[str, Any] = {
                "base_url": self.settings.endpoint,
                "credential_scopes": [self.settings.endpoint.rstrip("/") + "/.default"],
                "per_call_policies": [ReadOnlyGuardPolicy(self.settings.read_only)],
                "per_retry_policies": [CallCountingPolicy(self.counter)],
                "polling_interval": self.settings.polling_interval_s,
                "retry_policy": ReadRetryPolicy(
                    retry_backoff_factor=self.settings.retry_backoff_factor, retry_total=self.settings.retry_total
                ),
                "connection_timeout": self.settings.connection_timeout_s,
                "read_timeout": self.settings.read_timeout_s,
            }
            if self.settings.ca_bundle:
                kwargs["connection_verify"] = self.settings.ca_bundle
            self._cache[key] = client_class(self.settings.credential, subscription_id, **kwargs)
        client: ClientT = self._cache[key]
        return client

    def close(self) -> None:
        for client in self._cache.values():
            client.close()
        self._cache.clear()
