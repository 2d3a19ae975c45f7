"""`azure.credential`: its shorthand, paths, and what a missing secret or token file says (before any request)."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodian.cli import main
from custodian.config import AzureCredentialKind, ConfigError, load_config, parse_config
from custodian.run.azure_identity import azure_credential, identity_settings

GITHUB = "github: {mode: enterprise-server, org: acme, release_repos: [acme/product], token: {env: GH}}\n"


def _config(azure: str, base: Path | None = None) -> str:
    return GITHUB + "azure:\n  subscriptions: [s1]\n" + "".join(f"  {line}\n" for line in azure.splitlines())


def test_access_token_is_the_shorthand_of_kind_access_token_and_nothing_means_default() -> None:
    shorthand = parse_config(_config("access_token: {env: AZURE_ACCESS_TOKEN}")).azure.identity()
    assert shorthand.kind is AzureCredentialKind.ACCESS_TOKEN and shorthand.access_token is not None
    assert shorthand.access_token.env == "AZURE_ACCESS_TOKEN"
    assert parse_config(_config("")).azure.identity().kind is AzureCredentialKind.DEFAULT


def test_a_sovereign_cloud_names_its_authority_and_arm_endpoint(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        _config(
            "arm_endpoint: https://management.usgovcloudapi.net/\n"
            "credential:\n"
            "  kind: workload-identity\n"
            "  authority_host: login.microsoftonline.us\n"
            "  token_file: tokens/azure-identity-token\n"
        )
    )
    config = load_config(tmp_path / "c.yaml")
    credential = config.azure.identity()
    assert config.azure.arm_endpoint == "https://management.usgovcloudapi.net"
    assert credential.authority_host == "https://login.microsoftonline.us"
    assert credential.token_file == tmp_path / "tokens" / "azure-identity-token"  # relative to the file


def test_a_missing_secret_names_its_key_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RC_TEST_NO_SECRET", raising=False)
    config = parse_config(
        _config(
            "credential: {kind: client-secret, tenant_id: t1, client_id: c1, client_secret: {env: RC_TEST_NO_SECRET}}"
        )
    )
    with pytest.raises(ConfigError) as caught:
        identity_settings(config)
    assert caught.value.problems == [
        "azure.credential.client_secret: environment variable RC_TEST_NO_SECRET is not set"
    ]


def test_a_missing_or_empty_federated_token_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
    missing = tmp_path / "nope"
    config = parse_config(_config(f"credential: {{kind: workload-identity, token_file: {missing}}}"))
    with pytest.raises(ConfigError, match=f"azure.credential.token_file: cannot read {missing}: No such file"):
        identity_settings(config)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(empty))
    with pytest.raises(ConfigError, match=r"AZURE_FEDERATED_TOKEN_FILE: .* is empty"):
        identity_settings(parse_config(_config("credential: {kind: workload-identity}")))


def test_workload_identity_without_a_tenant_says_which_variable_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    token = tmp_path / "token"
    token.write_text("eyJhbGciOi.x.y")
    config = parse_config(_config(f"credential: {{kind: workload-identity, token_file: {token}}}"))
    with pytest.raises(ConfigError) as caught:
        azure_credential(identity_settings(config))
    assert caught.value.problems == [
        "azure.credential: kind workload-identity needs tenant_id (or AZURE_TENANT_ID), client_id (or AZURE_CLIENT_ID)"
    ]


def test_the_cli_reports_a_missing_secret_as_bad_input_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GH", "gh-token")
    monkeypatch.delenv("RC_TEST_NO_SECRET", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(
        GITHUB.replace("org: acme", "base_url: 'https://127.0.0.1:9/api/v3', org: acme")
        + "azure:\n  subscriptions: [s1]\n  arm_endpoint: https://127.0.0.1:9\n"
        "  credential: {kind: client-secret, tenant_id: t1, client_id: c1, client_secret: {env: RC_TEST_NO_SECRET}}\n"
        f"ledger: {{url: 'sqlite:///{tmp_path / 'l.sqlite'}'}}\nreports: {{directory: '{tmp_path / 'reports'}'}}\n"
    )
    assert main(["audit", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "azure.credential.client_secret: environment variable RC_TEST_NO_SECRET is not set" in err
    assert "Traceback" not in err
