"""The Entra ID emulator and the ARM emulator's token check, driven by the real azure-identity credentials.

`ClientSecretCredential`, `WorkloadIdentityCredential` (the sandbox's federated token file) and
`ClientAssertionCredential` are pointed at the emulator with `authority=` and
`disable_instance_discovery=True`, over HTTPS with the sandbox CA; their tokens are then used by the
real `ResourceManagementClient` against the ARM emulator, which accepts only tokens the emulator
issued, unexpired and for ARM (plus the static token the sandbox was started with, when it was).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientAssertionCredential, ClientSecretCredential, WorkloadIdentityCredential
from azure.mgmt.resource import ResourceManagementClient

from custodian.providers.azure.clients import StaticTokenCredential
from custodian.sandbox.arm_auth import STATIC
from custodian.sandbox.entra import FEDERATED_AUDIENCE, EntraEmulator, FederatedIssuer, SigningKey
from custodian.sandbox.runtime import Sandbox, SandboxEnv
from custodian.sandbox.scenario import load_scenario

SUB = "11111111-1111-4111-8111-111111111111"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    workdir = Path(tmp_path_factory.mktemp("entra"))
    with Sandbox(load_scenario("seed"), workdir=workdir, with_azurite=False, token_lifetime_s=600) as sandbox:
        yield sandbox


@pytest.fixture()
def entra(sandbox: Sandbox) -> Iterator[EntraEmulator]:
    assert sandbox.entra is not None
    lifetime = sandbox.entra.token_lifetime_s
    yield sandbox.entra
    sandbox.entra.token_lifetime_s = lifetime
    sandbox.entra.now = time.time


def _secret_credential(env: SandboxEnv, secret: str | None = None) -> ClientSecretCredential:
    return ClientSecretCredential(
        env.tenant_id,
        env.client_id,
        secret or env.client_secret,
        authority=env.authority_host,
        disable_instance_discovery=True,
        connection_verify=env.ca_bundle,
    )


def _groups(env: SandboxEnv, credential: TokenCredential, audience: str | None = None) -> list[str]:
    client = ResourceManagementClient(
        credential,
        SUB,
        base_url=env.arm_endpoint,
        credential_scopes=[(audience or env.arm_endpoint) + "/.default"],
        connection_verify=env.ca_bundle,
        retry_total=0,
    )
    with client:
        return sorted(g.name for g in client.resource_groups.list())


def _token_endpoint(env: SandboxEnv) -> str:
    return f"{env.authority_host}/{env.tenant_id}/oauth2/v2.0/token"


def _post(env: SandboxEnv, **form: str) -> requests.Response:
    return requests.post(_token_endpoint(env), data=form, verify=env.ca_bundle, timeout=10)


def test_the_openid_metadata_names_the_token_endpoint_and_keys(sandbox: Sandbox) -> None:
    env = sandbox.env
    url = f"{env.authority_host}/{env.tenant_id}/v2.0/.well-known/openid-configuration"
    metadata = requests.get(url, verify=env.ca_bundle, timeout=10).json()
    assert metadata["token_endpoint"] == _token_endpoint(env)
    assert metadata["issuer"] == f"{env.authority_host}/{env.tenant_id}/v2.0"
    keys = requests.get(metadata["jwks_uri"], verify=env.ca_bundle, timeout=10).json()["keys"]
    assert [k["kty"] for k in keys] == ["RSA"] and keys[0]["kid"]


def test_a_client_secret_credential_gets_a_short_lived_token_arm_accepts(sandbox: Sandbox) -> None:
    env = sandbox.env
    credential = _secret_credential(env)
    token = credential.get_token(env.arm_endpoint + "/.default")
    assert 590 <= token.expires_on - time.time() <= 600  # the emulator's lifetime, as `expires_in`
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["aud"] == env.arm_endpoint and claims["tid"] == env.tenant_id and claims["appid"] == env.client_id
    assert "rg-release-registries" in _groups(env, credential)
    issued = {t.token_id: t for t in sandbox.entra.issued}  # type: ignore[union-attr]
    assert issued[claims["uti"]].method == "client_secret"
    assert sandbox.arm.auth.records[-1].token_id == claims["uti"]  # type: ignore[union-attr]


def test_workload_identity_reads_the_federated_token_file(sandbox: Sandbox) -> None:
    env = sandbox.env
    credential = WorkloadIdentityCredential(
        tenant_id=env.tenant_id,
        client_id=env.client_id,
        token_file_path=env.federated_token_file,
        authority=env.authority_host,
        disable_instance_discovery=True,
        connection_verify=env.ca_bundle,
    )
    assert "rg-release-registries" in _groups(env, credential)
    assert sandbox.entra.issued[-1].method == "federated"  # type: ignore[union-attr]


def test_a_client_assertion_must_come_from_the_trusted_issuer_subject_and_audience(
    sandbox: Sandbox, entra: EntraEmulator
) -> None:
    env = sandbox.env

    def credential(assertion: str) -> ClientAssertionCredential:
        return ClientAssertionCredential(
            env.tenant_id,
            env.client_id,
            lambda: assertion,
            authority=env.authority_host,
            disable_instance_discovery=True,
            connection_verify=env.ca_bundle,
        )

    scope = env.arm_endpoint + "/.default"
    assert _groups(env, credential(entra.federated_issuer.assertion()))
    cases = {
        "AADSTS700213": entra.federated_issuer.assertion("system:serviceaccount:other:sa"),
        "AADSTS700212": entra.federated_issuer.assertion(audience="api://somewhere-else"),
        "AADSTS700024": entra.federated_issuer.assertion(lifetime_s=-60),
        "AADSTS700211": FederatedIssuer("https://issuer.example").assertion(),
        "AADSTS700027": _forged(entra.federated_issuer.url),
        "AADSTS50027": "not-a-jwt",
    }
    for code, assertion in cases.items():
        with pytest.raises(ClientAuthenticationError, match=code):
            credential(assertion).get_token(scope)


def _forged(issuer: str) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "sub": "system:serviceaccount:release-custodian:custodian", "aud": [FEDERATED_AUDIENCE]}
    return SigningKey().sign({**claims, "iat": now, "nbf": now, "exp": now + 600})


def test_token_endpoint_errors_are_entra_oauth_bodies(sandbox: Sandbox) -> None:
    env = sandbox.env
    scope = env.arm_endpoint + "/.default"
    good = {"grant_type": "client_credentials", "client_id": env.client_id, "scope": scope}
    cases: list[tuple[dict[str, str], int, str, int]] = [
        ({**good, "client_secret": "wrong"}, 401, "invalid_client", 7000215),
        (good, 401, "invalid_client", 7000216),
        (
            {**good, "client_id": "00000000-0000-0000-0000-000000000000", "client_secret": "x"},
            400,
            "unauthorized_client",
            700016,
        ),
        (
            {**good, "client_secret": env.client_secret, "scope": "https://management.azure.com"},
            400,
            "invalid_scope",
            1002012,
        ),
        ({**good, "grant_type": "password", "client_secret": env.client_secret}, 400, "unsupported_grant_type", 70003),
    ]
    for form, status, error, code in cases:
        response = _post(env, **form)
        body = response.json()
        assert (response.status_code, body["error"], body["error_codes"]) == (status, error, [code]), body
        assert body["error_description"].startswith(f"AADSTS{code}: ") and "Trace ID: " in body["error_description"]
        assert body["trace_id"] and body["correlation_id"] and body["timestamp"]
    unknown = requests.get(
        f"{env.authority_host}/contoso.example/v2.0/.well-known/openid-configuration", verify=env.ca_bundle, timeout=10
    )
    assert unknown.status_code == 400 and unknown.json()["error_codes"] == [90002]


def test_a_wrong_secret_is_a_clear_authentication_error(sandbox: Sandbox) -> None:
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215: Invalid client secret provided"):
        _groups(sandbox.env, _secret_credential(sandbox.env, "not-the-secret"))


def _arm_error(env: SandboxEnv, credential: TokenCredential, audience: str | None = None) -> Any:
    with pytest.raises(ClientAuthenticationError) as caught:
        _groups(env, credential, audience)
    response = caught.value.response
    assert response is not None and response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer authorization_uri="{env.authority_host}/{env.tenant_id}"')
    assert 'error="invalid_token"' in challenge
    return caught.value.error


def test_arm_rejects_foreign_expired_and_misaddressed_tokens(sandbox: Sandbox, entra: EntraEmulator) -> None:
    env = sandbox.env
    foreign = SigningKey().sign({"aud": env.arm_endpoint, "tid": env.tenant_id, "uti": "x", "exp": 2**31})
    assert _arm_error(env, StaticTokenCredential(foreign)).code == "InvalidAuthenticationToken"
    assert _arm_error(env, StaticTokenCredential("garbage")).code == "InvalidAuthenticationToken"

    entra.now = lambda: time.time() - 7200  # a token issued two hours ago (its client thinks it is new)
    error = _arm_error(env, _secret_credential(env))
    assert error.code == "ExpiredAuthenticationToken" and "is earlier than current UTC time" in error.message
    entra.now = time.time

    storage = "https://storage.azure.com"
    assert _arm_error(env, _secret_credential(env), audience=storage).code == "InvalidAuthenticationTokenAudience"
    outcomes = [r.outcome for r in sandbox.arm.auth.records[-4:]]  # type: ignore[union-attr]
    assert outcomes == [
        "InvalidAuthenticationToken",
        "InvalidAuthenticationToken",
        "ExpiredAuthenticationToken",
        "InvalidAuthenticationTokenAudience",
    ]


def test_a_token_past_its_lifetime_is_refused_and_the_credential_gets_a_new_one(
    sandbox: Sandbox, entra: EntraEmulator
) -> None:
    env = sandbox.env
    entra.token_lifetime_s = 1
    token = _secret_credential(env).get_token(env.arm_endpoint + "/.default")
    time.sleep(max(0.0, entra.issued[-1].expires_at - time.time()) + 0.1)
    assert _arm_error(env, StaticTokenCredential(token.token)).code == "ExpiredAuthenticationToken"
    entra.token_lifetime_s = 600
    assert _groups(env, _secret_credential(env))  # a new credential: a new token


def test_the_static_token_is_accepted_only_when_the_sandbox_was_started_with_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    assert _groups(sandbox.env, StaticTokenCredential(sandbox.env.azure_access_token))
    assert sandbox.arm.auth.records[-1].token_id == STATIC  # type: ignore[union-attr]
    with Sandbox(load_scenario("seed"), workdir=tmp_path, with_azurite=False, static_token=False) as strict:
        env = strict.env
        assert not env.azure_access_token.startswith("sandbox-arm-")  # an Entra-issued token instead
        assert _groups(env, StaticTokenCredential(env.azure_access_token))
        assert _arm_error(env, StaticTokenCredential(sandbox.env.azure_access_token)).code == (
            "InvalidAuthenticationToken"
        )


def test_the_env_file_names_the_entra_settings(sandbox: Sandbox) -> None:
    env = sandbox.env.as_env()
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST"):
        assert env[name]
    assert Path(env["AZURE_FEDERATED_TOKEN_FILE"]).read_text().count(".") == 2  # a JWT
    assert env["AZURE_ACCESS_TOKEN"] and env["AZURE_ARM_ENDPOINT"].startswith("https://127.0.0.1:")
