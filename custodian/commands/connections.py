"""`config validate --check-connections`: the ledger and every configured endpoint, one cheap read each.

Checks, each on its own (one failing never stops the others), each with a short timeout and no
retries, so that an endpoint that never answers fails in seconds:

- `ledger`: the URL opened read-only (`custodian.ledger.probe`): a SQLite file that is a database
  and writable (or a directory it can be created in), or a PostgreSQL server that accepts the
  connection (its version); the schema revision when there is one. Nothing is created or migrated;
- `arm`: `GET /subscriptions/{id}` per configured subscription, with the configured credential;
- `github`: `GET /orgs/{org}` with the configured token or GitHub App (its token exchange first);
- `blob`: the first page of containers of each configured storage account (one container).

Every request is a read: the clients are the run's, read-only on the wire.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from azure.core.credentials import TokenCredential
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from custodian.collect.blobs import open_account
from custodian.config import Config, ConfigError, GithubMode, StorageAccountConfig
from custodian.ledger.probe import probe_ledger
from custodian.ledger.rows import LedgerInputError
from custodian.providers.azure.blobs import BlobSettings
from custodian.providers.azure.clients import ArmSettings
from custodian.providers.azure.probe import read_subscription
from custodian.providers.github.client import GithubSession, GithubSettings
from custodian.providers.wire import CallCounter
from custodian.run.azure_identity import azure_credential, identity_settings
from custodian.run.context import github_app_credentials


@dataclass(frozen=True)
class CheckResult:
    name: str  # ledger, arm, github, blob
    target: str
    ok: bool
    detail: str
    seconds: float

    def line(self) -> str:
        state = "ok" if self.ok else "FAILED"
        return f"{state:<6} {self.name:<6} {self.target}: {self.detail} ({self.seconds:.1f} s)"


def _shown_url(url: str) -> str:
    """The URL with its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def _cause(exc: BaseException) -> str:
    if isinstance(exc, ConfigError):
        return "; ".join(exc.problems)
    if isinstance(exc, LedgerInputError):  # its message names the cause already
        return str(exc)
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _run(name: str, target: str, probe: Callable[[], str]) -> CheckResult:
    started = time.monotonic()
    try:
        detail = probe()
    except Exception as exc:  # noqa: BLE001 - any failure is this check's answer, printed with its cause
        return CheckResult(name, target, False, _cause(exc), time.monotonic() - started)
    return CheckResult(name, target, True, detail, time.monotonic() - started)


def check_connections(config: Config, timeout_s: float = 5.0) -> Iterator[CheckResult]:
    """Each check's result, in order (ledger, arm per subscription, github, blob per storage account)."""
    counter = CallCounter()
    yield _run("ledger", _shown_url(config.ledger.url), lambda: probe_ledger(config.ledger.url, timeout_s))

    credential = None
    try:
        credential = azure_credential(identity_settings(config))
    except Exception as exc:  # noqa: BLE001 - no credential: every Azure check fails with this cause
        for subscription in config.azure.subscriptions:
            yield CheckResult("arm", f"{config.azure.arm_endpoint} {subscription}", False, _cause(exc), 0.0)
    if credential is not None:
        settings = ArmSettings(
            endpoint=config.azure.arm_endpoint,
            credential=credential,
            ca_bundle=str(config.azure.ca_bundle) if config.azure.ca_bundle else None,
            connection_timeout_s=timeout_s,
            read_timeout_s=timeout_s,
            retry_total=0,
        )
        try:
            for subscription in config.azure.subscriptions:
                yield _run(
                    "arm",
                    f"{config.azure.arm_endpoint} subscription {subscription}",
                    partial(read_subscription, settings, counter, subscription),
                )
            yield from _blob_checks(config, counter, timeout_s, lambda: credential)
        finally:
            credential.close()
    yield _run("github", f"{config.github.base_url} org {config.github.org}", lambda: _github(config, timeout_s))


def _github(config: Config, timeout_s: float) -> str:
    session = GithubSession(
        GithubSettings(
            base_url=config.github.base_url,
            token=config.github.token.resolve() if config.github.token else "",
            app=github_app_credentials(config),
            org=config.github.org,
            read_only=True,
            enterprise=config.github.mode is GithubMode.ENTERPRISE_SERVER,
            timeout_s=max(1, round(timeout_s)),
            retries=0,
        ),
        CallCounter(),
    )
    try:
        org = session.get_json(f"/orgs/{config.github.org}")
        login = org.get("login") if isinstance(org, dict) else None
        return f"organization {login or config.github.org} readable ({'GitHub App' if config.github.app else 'token'})"
    finally:
        session.close()


def _blob_checks(
    config: Config, counter: CallCounter, timeout_s: float, credential: Callable[[], TokenCredential]
) -> Iterator[CheckResult]:
    if config.reaper is None:
        return
    settings = BlobSettings(
        read_only=True, retry_total=0, results_per_page=1, connection_timeout_s=timeout_s, read_timeout_s=timeout_s
    )

    def probe(storage: StorageAccountConfig) -> str:
        account = open_account(storage, None, settings, counter, credential)
        try:
            first = next(account.container_names(), None)
        finally:
            account.close()
        return f"containers readable ({'first: ' + first if first else 'none yet'})"

    for storage in config.reaper.storage_accounts:
        yield _run("blob", f"storage account {storage.name}", partial(probe, storage))
