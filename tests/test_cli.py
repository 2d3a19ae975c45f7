"""The CLI's contract for bad input: a clear message and exit code 2."""

from __future__ import annotations

import pytest

from custodian.cli import main
from custodian.model import Subject


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "sandbox" in out


def test_unknown_command_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bad_faults_spec_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "serve", "--no-azurite", "--faults", "throttle=3"]) == 2
    assert "--faults: fault 'throttle' must be a fraction" in capsys.readouterr().err


def test_bad_page_size_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "serve", "--no-azurite", "--page-size", "0"]) == 2
    assert "--page-size must be >= 1" in capsys.readouterr().err


def test_missing_scenario_file_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "check", "/nonexistent/scenario.yaml"]) == 2
    assert "scenario.yaml" in capsys.readouterr().err


def test_missing_secret_is_bad_input(tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    config = Path(str(tmp_path)) / "c.yaml"
    config.write_text(
        "github: {mode: enterprise-server, base_url: 'https://127.0.0.1:9/api/v3', org: acme,"
        " release_repos: [acme/product], token: {env: RC_TEST_UNSET_TOKEN}}\n"
        "azure: {subscriptions: [s1], arm_endpoint: 'https://127.0.0.1:9', access_token: {env: RC_TEST_UNSET_TOKEN}}\n"
        f"ledger: {{url: 'sqlite:///{Path(str(tmp_path)) / 'l.sqlite'}'}}\n"
        f"reports: {{directory: '{Path(str(tmp_path)) / 'reports'}'}}\n"
    )
    assert main(["audit", "-c", str(config)]) == 2
    assert "RC_TEST_UNSET_TOKEN is not set" in capsys.readouterr().err


def test_bad_ledger_url_is_bad_input(tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    config = Path(str(tmp_path)) / "c.yaml"
    config.write_text(
        "github: {mode: enterprise-server, org: acme, release_repos: [acme/product], token: {env: G}}\n"
        "azure: {subscriptions: [s1]}\nledger: {url: 'mysql://nope'}\n"
    )
    assert main(["hold", "list", "-c", str(config)]) == 2
    assert "ledger" in capsys.readouterr().err.lower()


def test_output_into_a_pipe_is_120_columns_unless_columns_says(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["rules", "list"]) == 0
    widest = max(len(line) for line in capsys.readouterr().out.splitlines())
    assert 80 < widest <= 120  # rich alone would cut a pipe's output at 80 columns
    monkeypatch.setenv("COLUMNS", "72")
    assert main(["rules", "list"]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 72


def test_a_registry_token_is_named_after_its_registry() -> None:
    registry = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/qaregistry"
    token = Subject("azure", "acr-sa", "v0-0-1-qa-acr-sa", scope=registry)
    assert token.short_label == "qaregistry/v0-0-1-qa-acr-sa"
    assert Subject("github", "gh-sa", "v0-0-1-qa-gh-sa", scope="github:acme").short_label == "v0-0-1-qa-gh-sa"
