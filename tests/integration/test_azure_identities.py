"""Runs under azure-identity credentials from `azure.credential`, against the Entra and ARM emulators.

The sandbox is started without its static token: ARM accepts only tokens the Entra emulator issued,
unexpired. The account sweep (ACR tokens) and the reaper (c7n children, which get a bearer token minted
by the parent from the same credential) run under a client secret, a federated token file (workload
identity), a managed identity (the emulator's App Service style endpoint: IDENTITY_ENDPOINT and
IDENTITY_HEADER), the Azure CLI (a stand-in `az` on PATH that asks the Entra emulator, as the real CLI
does after `az login --service-principal`) and a wrong secret; the emulators' token and request logs
say which token served what.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from custodian.commands.demo import SANDBOX_CONFIG
from custodian.config import AzureCredentialConfig, AzureCredentialKind, Config, SecretRef, load_config, parse_config
from custodian.ledger.store import Ledger
from custodian.model import Finding, RunMode, Status
from custodian.providers.azure.identity import ArmTokenSource, IdentitySettings, build_credential
from custodian.run import ACCOUNTS, REAPER, RunOutcome, RunRequest, run_lifecycle
from custodian.sandbox.arm_auth import AuthRecord
from custodian.sandbox.entra import EntraEmulator, IssuedToken
from custodian.sandbox.runtime import Sandbox
from custodian.sandbox.scenario import load_scenario
from tests.integration.conftest import bind_config
from tests.reaper.support import PROD, SUB, TUNING

CANARY = "canary-" + "9f1c2e7a5b"


@dataclass
class Identities:
    sandbox: Sandbox
    config: Config  # the sandbox config, its reaper without blobs
    tmp: Path

    @property
    def entra(self) -> EntraEmulator:
        assert self.sandbox.entra is not None
        return self.sandbox.entra

    def auth_records(self) -> list[AuthRecord]:
        assert self.sandbox.arm is not None and self.sandbox.arm.auth is not None
        return self.sandbox.arm.auth.records

    def with_credential(self, credential: AzureCredentialConfig, **reaper: object) -> Config:
        assert self.config.reaper is not None
        azure = self.config.azure.model_copy(update={"access_token": None, "credential": credential})
        return self.config.model_copy(update={"azure": azure, "reaper": self.config.reaper.model_copy(update=reaper)})

    def client_secret(self, secret_env: str = "AZURE_CLIENT_SECRET") -> AzureCredentialConfig:
        env = self.sandbox.env
        return AzureCredentialConfig(
            kind=AzureCredentialKind.CLIENT_SECRET,
            tenant_id=env.tenant_id,
            client_id=env.client_id,
            client_secret=SecretRef(env=secret_env),
            authority_host=env.authority_host,
            instance_discovery=False,
        )

    def run(
        self, config: Config, parts: frozenset[str], *, mode: RunMode = RunMode.AUDIT, apply: bool = False, **kw: object
    ) -> RunOutcome:
        assert self.sandbox.arm is not None and self.sandbox.arm.auth is not None
        self.sandbox.arm.auth.clear()
        with Ledger.open(config.ledger.url) as ledger:
            return run_lifecycle(
                config,
                RunRequest(mode, apply=apply, parts=parts),
                ledger=ledger,
                clock=self.sandbox.clock.now,
                tuning=TUNING,
                **kw,  # type: ignore[arg-type]
            )


@pytest.fixture(scope="module")
def ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Identities]:
    tmp = Path(tmp_path_factory.mktemp("identities"))
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        Sandbox(
            load_scenario("seed"), workdir=tmp / "sandbox", with_azurite=False, page_size=50, static_token=False
        ) as sandbox,
    ):
        config = bind_config(sandbox, tmp, monkeypatch)
        reaper = load_config(SANDBOX_CONFIG).reaper  # bind_config leaves it out; here without blobs
        assert reaper is not None
        reaper = reaper.model_copy(update={"storage_accounts": []})
        yield Identities(sandbox, config.model_copy(update={"reaper": reaper}), tmp)


def collect_errors(outcome: RunOutcome) -> list[Finding]:
    return [f for f in outcome.result.findings if f.rule == "COLLECT"]


def c7n_tokens(records: list[AuthRecord], subscription: str) -> set[str | None]:
    """The tokens of the requests c7n's child made for `subscription` (compute and network: only c7n lists them)."""
    return {
        r.token_id
        for r in records
        if f"/subscriptions/{subscription}/" in r.path
        and any(ns in r.path.lower() for ns in ("/microsoft.compute/", "/microsoft.network/"))
    }


def first_c7n_request(records: list[AuthRecord], subscription: str) -> float:
    return min(r.at for r in records if r.token_id in c7n_tokens(records, subscription) and subscription in r.path)


def by_id(entra: EntraEmulator) -> dict[str, IssuedToken]:
    return {t.token_id: t for t in entra.issued}


def test_the_account_sweep_lists_acr_tokens_with_a_client_secret(ids: Identities) -> None:
    outcome = ids.run(ids.with_credential(ids.client_secret()), frozenset({ACCOUNTS}))
    assert collect_errors(outcome) == []
    assert any(f.subject.provider == "azure" and f.rule in ("L1", "L2", "L3") for f in outcome.result.findings)
    records = ids.auth_records()
    issued = by_id(ids.entra)
    assert records and all(r.outcome == "ok" and r.token_id in issued for r in records)
    assert {issued[r.token_id].method for r in records if r.token_id} == {"client_secret"}


def test_workload_identity_from_the_federated_token_file(ids: Identities) -> None:
    env = ids.sandbox.env  # tenant, client and token file from AZURE_* (as AKS's webhook sets them)
    credential = AzureCredentialConfig(
        kind=AzureCredentialKind.WORKLOAD_IDENTITY,
        authority_host=env.authority_host,
        instance_discovery=False,
    )
    outcome = ids.run(ids.with_credential(credential), frozenset({ACCOUNTS}))
    assert collect_errors(outcome) == []
    issued = by_id(ids.entra)
    assert {issued[r.token_id].method for r in ids.auth_records() if r.token_id} == {"federated"}


def test_a_wrong_secret_is_a_collect_error_per_unit_and_nothing_azure_is_touched(
    ids: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RC_WRONG_SECRET", CANARY)
    config = ids.with_credential(ids.client_secret("RC_WRONG_SECRET"))
    config = config.model_copy(update={"enforce": config.enforce.model_copy(update={"allowed_orgs": []})})
    assert ids.sandbox.arm_server is not None
    ids.sandbox.arm_server.clear_log()
    outcome = ids.run(config, frozenset({ACCOUNTS, REAPER}), mode=RunMode.ENFORCE, apply=True)
    errors = [f for f in collect_errors(outcome) if f.subject.provider == "azure"]
    units = {f.subject.provider_name for f in errors}
    assert {f"/subscriptions/{SUB}", f"/subscriptions/{PROD}"} <= units, units
    assert len(units) >= 3  # the registries' units too
    for finding in errors:
        assert finding.status is Status.ERROR
        assert "azure.credential client-secret" in finding.message and "AADSTS7000215" in finding.message
        assert "Traceback" not in finding.message and CANARY not in finding.message
    assert ids.sandbox.arm_server.requests == []  # not one ARM request: no token, no call, no action
    assert not [r for r in outcome.result.actions if r.action.subject.provider == "azure"]
    kept = [p for p in (ids.tmp / "reports").rglob("*") if p.is_file()] + [ids.tmp / "ledger.sqlite"]
    assert not [p for p in kept if CANARY.encode() in p.read_bytes()]


def test_the_credential_s_cached_token_is_reused_and_a_short_one_renewed(ids: Identities) -> None:
    env = ids.sandbox.env
    settings = IdentitySettings(
        "client-secret",
        tenant_id=env.tenant_id,
        client_id=env.client_id,
        client_secret=env.client_secret,
        authority_host=env.authority_host,
        instance_discovery=False,
        ca_bundle=env.ca_bundle,
    )
    ids.entra.token_lifetime_s = 400  # longer than MSAL's 5-minute margin: cached by the credential
    try:
        credential = build_credential(settings)
        source = ArmTokenSource(credential, env.arm_endpoint, renew=lambda: build_credential(settings))
        cached = credential.get_token(source.scope)
        before = len(ids.entra.issued)
        assert source.mint(60).token == cached.token and len(ids.entra.issued) == before
        fresh = source.mint(3600)  # 400 s cannot outlive an hour: the freshest token there is
        assert fresh.token != cached.token and len(ids.entra.issued) == before + 1
        assert fresh.expires_on >= cached.expires_on
    finally:
        ids.entra.token_lifetime_s = 3600


def test_each_c7n_child_gets_a_token_minted_for_it_when_the_cached_one_is_too_short(ids: Identities) -> None:
    ids.entra.token_lifetime_s = 400  # shorter than c7n_timeout (10m) + margin: renewed for each child
    try:
        outcome = ids.run(
            ids.with_credential(ids.client_secret(), c7n_timeout=timedelta(minutes=10)), frozenset({REAPER})
        )
    finally:
        ids.entra.token_lifetime_s = 3600
    assert collect_errors(outcome) == []
    records = ids.auth_records()
    first, second = c7n_tokens(records, SUB), c7n_tokens(records, PROD)
    assert len(first) == len(second) == 1 and first != second, (first, second)
    parent = {r.token_id for r in records} - first - second  # the SDK clients' (cross-checks)
    assert parent and not (parent & (first | second))
    assert all(r.outcome == "ok" for r in records)


def test_a_run_longer_than_a_token_s_lifetime_gives_the_second_child_a_fresh_token(ids: Identities) -> None:
    """The first child's token has expired when the second child starts; the second child has its own."""
    lifetime = 8
    records_of = ids.auth_records

    class WaitForExpiry:  # after the first subscription, wait until the first child's token has expired
        def begin(self, description: str, total: int) -> None:
            return None

        def note(self, message: str) -> None:
            return None

        def advance(self, message: str) -> None:
            if message.startswith(f"subscription {SUB}"):
                (token,) = c7n_tokens(records_of(), SUB)
                assert token is not None
                time.sleep(max(0.0, by_id(ids.entra)[token].expires_at - time.time()) + 0.2)

    ids.entra.token_lifetime_s = lifetime
    try:
        outcome = ids.run(ids.with_credential(ids.client_secret()), frozenset({REAPER}), progress=WaitForExpiry())
    finally:
        ids.entra.token_lifetime_s = 3600
    assert collect_errors(outcome) == []
    records, issued = ids.auth_records(), by_id(ids.entra)
    (first,), (second,) = c7n_tokens(records, SUB), c7n_tokens(records, PROD)
    assert first is not None and second is not None and first != second
    assert issued[first].expires_at < first_c7n_request(records, PROD)  # it expired mid-run
    assert issued[second].issued_at > issued[first].expires_at  # minted for the second child
    assert all(r.outcome == "ok" for r in records)  # no request ever carried an expired token
    assert outcome.exit_code.name != "BAD_INPUT"


def test_the_sandbox_config_s_commented_credential_block_works(ids: Identities) -> None:
    lines = SANDBOX_CONFIG.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "#   credential:")
    block = [line.replace("  #   ", "  ", 1) for line in lines[start:] if line.startswith("  #   ")]
    kept = [line for line in lines if line.strip() != "access_token: {env: AZURE_ACCESS_TOKEN}"]
    at = kept.index("  registries:")
    config = parse_config("\n".join(kept[:at] + block + kept[at:]), "sandbox-config.yaml")
    assert config.azure.identity().kind is AzureCredentialKind.CLIENT_SECRET
    bound = config.model_copy(update={"ledger": ids.config.ledger, "reports": ids.config.reports, "reaper": None})
    assert collect_errors(ids.run(bound, frozenset({ACCOUNTS}))) == []


AZ_STUB = '''#!{python}
"""A stand-in for the `az` CLI after `az login --service-principal`: `account get-access-token` only.

It asks the Entra emulator for a token with the logged-in service principal (as the CLI would from
its cache) and prints what `az account get-access-token --output json` prints.
"""
import json, os, ssl, sys, urllib.parse, urllib.request

args = sys.argv[1:]
if args[:2] != ["account", "get-access-token"]:
    sys.exit("az stub: only 'account get-access-token' is emulated")
resource = args[args.index("--resource") + 1]
tenant = args[args.index("--tenant") + 1] if "--tenant" in args else os.environ["AZURE_TENANT_ID"]
form = urllib.parse.urlencode({{
    "grant_type": "client_credentials", "client_id": os.environ["AZ_STUB_CLIENT_ID"],
    "client_secret": os.environ["AZ_STUB_CLIENT_SECRET"], "scope": resource + "/.default",
}}).encode()
context = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
url = os.environ["AZURE_AUTHORITY_HOST"].rstrip("/") + "/" + tenant + "/oauth2/v2.0/token"
try:
    answer = json.load(urllib.request.urlopen(url, form, context=context))
except urllib.error.HTTPError as exc:
    sys.stderr.write("ERROR: " + json.load(exc).get("error_description", "") + "\\n")
    sys.exit(1)
import os
import time
print(json.dumps({{
    "accessToken": answer["access_token"], "expires_on": int(time.time()) + int(answer["expires_in"]),
    "subscription": "", "tenant": tenant, "tokenType": "Bearer",
}}))
'''


def test_managed_identity_user_assigned_and_system_assigned(ids: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    """App Service style: IDENTITY_ENDPOINT + IDENTITY_HEADER, as the platform sets them."""
    assert ids.sandbox.entra_server is not None
    for key, value in ids.entra.managed.env(ids.sandbox.entra_server.url).items():
        monkeypatch.setenv(key, value)
    user = ids.entra.add_managed_identity()
    credential = AzureCredentialConfig(kind=AzureCredentialKind.MANAGED_IDENTITY, client_id=user.client_id)
    outcome = ids.run(ids.with_credential(credential), frozenset({ACCOUNTS, REAPER}))
    assert collect_errors(outcome) == []
    issued = by_id(ids.entra)
    used = {issued[r.token_id] for r in ids.auth_records() if r.token_id}
    assert {(t.method, t.client_id) for t in used} == {("managed_identity", user.client_id)}
    assert c7n_tokens(ids.auth_records(), SUB)  # the reaper's c7n child ran on a token minted from it

    system = ids.entra.add_managed_identity(system=True)
    outcome = ids.run(
        ids.with_credential(AzureCredentialConfig(kind=AzureCredentialKind.MANAGED_IDENTITY)), frozenset({ACCOUNTS})
    )
    assert collect_errors(outcome) == []
    assert {by_id(ids.entra)[r.token_id].client_id for r in ids.auth_records() if r.token_id} == {system.client_id}

    monkeypatch.setenv("IDENTITY_HEADER", "not-the-platform-s")  # a wrong header: a COLLECT error, nothing acted on
    refused = ids.run(ids.with_credential(credential), frozenset({ACCOUNTS}), mode=RunMode.ENFORCE, apply=True)
    assert collect_errors(refused) and not [r for r in refused.result.actions if r.action.subject.provider == "azure"]


def test_the_azure_cli_credential_runs_az_and_uses_its_token(ids: Identities, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    env = ids.sandbox.env
    stub = ids.tmp / "bin" / "az"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text(AZ_STUB.format(python=sys.executable), encoding="utf-8")
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("AZ_STUB_CLIENT_ID", env.client_id)
    monkeypatch.setenv("AZ_STUB_CLIENT_SECRET", env.client_secret)
    credential = AzureCredentialConfig(kind=AzureCredentialKind.AZURE_CLI, tenant_id=env.tenant_id)
    outcome = ids.run(ids.with_credential(credential), frozenset({ACCOUNTS}))
    assert collect_errors(outcome) == []
    assert {by_id(ids.entra)[r.token_id].client_id for r in ids.auth_records() if r.token_id} == {env.client_id}

    monkeypatch.setenv("AZ_STUB_CLIENT_SECRET", "wrong")  # `az` fails: its reason reaches the COLLECT error
    failed = ids.run(ids.with_credential(credential), frozenset({ACCOUNTS}))
    assert collect_errors(failed) and any("AADSTS" in f.message for f in collect_errors(failed))
