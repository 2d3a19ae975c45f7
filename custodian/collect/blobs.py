"""The blob inventory of each configured storage account: every container listed with index tags.

One pass per container: `list_blobs(include=["tags"])` at the service's maximum page size (5,000),
each blob judged on the tags it was listed with (`is_candidate`); no server-side tag query and no
work per version, so the cost is ceil(blobs / 5,000) calls per container whatever the timeline.
Listings are streamed page by page; only the blobs a reaping rule could select are kept (the
`is_candidate` predicate the run passes in), so memory stays flat whatever the size of a container;
every listed blob counts in its scope's population (the percentage cap's denominator). A storage
account belongs to a subscription: configured (`subscription`), else resolved from the ARM
listing of the configured subscriptions; unresolved, nothing in it is acted on (the gate refuses
an unknown scope). Any failure (a missing container, a 5xx that outlasts the retries) makes the
account's unit incomplete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from azure.core.credentials import TokenCredential

from custodian.config import ConfigError, StorageAccountConfig
from custodian.model import Blob, CollectionError, Provider, Scope, blob_unit
from custodian.progress import Progress
from custodian.providers.azure.blobs import BlobAccount, BlobSettings, redact
from custodian.providers.wire import CallCounter


@dataclass
class BlobInventory:
    blobs: list[Blob] = field(default_factory=list)
    errors: list[CollectionError] = field(default_factory=list)
    populations: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, BlobAccount] = field(default_factory=dict)  # unit -> open client (the run closes them)

    def close(self) -> None:
        for account in self.accounts.values():
            account.close()


def describe(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # StorageErrorCode is an enum of the service's codes
    text = str(exc).splitlines()[0] if str(exc) else ""
    return redact(f"{type(exc).__name__}{f' {code}' if code else ''}: {text}".strip())


def open_account(
    config: StorageAccountConfig,
    scope: Scope | None,
    settings: BlobSettings,
    counter: CallCounter,
    credential: Callable[[], TokenCredential],
) -> BlobAccount:
    """The account's client; `ConfigError` or the SDK's error when it cannot be built."""
    if config.connection_string is not None:
        return BlobAccount.from_connection_string(
            config.name, config.connection_string.resolve(), settings, counter, scope
        )
    assert config.account_url is not None
    return BlobAccount.from_account_url(config.name, config.account_url, credential(), settings, counter, scope)


def _containers(account: BlobAccount, config: StorageAccountConfig) -> list[str]:
    if config.containers is not None:
        return list(dict.fromkeys([*config.containers, *config.ephemeral_containers]))
    return list(account.container_names())


@contextmanager
def _collecting(into: BlobInventory, config: StorageAccountConfig, scope: Scope | None, what: str) -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        into.errors.append(CollectionError(Provider.AZURE, blob_unit(config.name), "; ".join(exc.problems), scope))
    except Exception as exc:  # noqa: BLE001 - an incomplete inventory: ERROR, blocks the account
        message = f"{what}: {describe(exc)}"
        into.errors.append(CollectionError(Provider.AZURE, blob_unit(config.name), message, scope))


def collect_blobs(
    accounts: list[StorageAccountConfig],
    scopes: dict[str, Scope | None],
    is_candidate: Callable[[Blob], bool],
    settings: BlobSettings,
    counter: CallCounter,
    credential: Callable[[], TokenCredential],
    progress: Progress,
) -> BlobInventory:
    inventory = BlobInventory()
    progress.begin("blobs", len(accounts))
    for config in accounts:
        scope = scopes.get(config.name.lower())
        unit = blob_unit(config.name)
        listed = kept = 0
        with _collecting(inventory, config, scope, "cannot connect"):
            client = open_account(config, scope, settings, counter, credential)
            inventory.accounts[unit] = client
        client_or_none = inventory.accounts.get(unit)
        if client_or_none is not None:
            names: list[str] = []
            with _collecting(inventory, config, scope, "listing its containers failed"):
                names = _containers(client_or_none, config)
            for container in names:
                with _collecting(inventory, config, scope, f"container {container}: listing failed"):
                    for page in client_or_none.list_pages(container):
                        listed += len(page)
                        for blob in page:
                            if is_candidate(blob):
                                inventory.blobs.append(blob)
                                kept += 1
        if scope is not None:
            inventory.populations[scope.key] = inventory.populations.get(scope.key, 0) + listed
        state = "complete" if not any(e.unit == unit for e in inventory.errors) else "INCOMPLETE"
        progress.advance(f"storage account {config.name}: {listed} blob(s) listed, {kept} candidate(s), {state}")
    return inventory
