"""`hold add` against the seed sandbox: the target is looked up read-only; unknown names get the nearest known."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custodian.cli import main
from custodian.commands.demo import SANDBOX_CONFIG
from custodian.ledger.store import Ledger
from tests.integration.conftest import Env

CONFIG = str(SANDBOX_CONFIG)


@pytest.fixture()
def cli_env(seed_env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.chdir(seed_env.tmp)  # the sandbox config keeps its ledger relative to the cwd
    return seed_env


def add(*extra: str) -> int:
    return main(["hold", "add", "-c", CONFIG, "--reason", "CAB-7", "--by", "alice", *extra])


def cli_holds(env: Env) -> list[tuple[str, str]]:
    with Ledger.open(f"sqlite:///{env.tmp / '.custodian' / 'ledger.sqlite'}") as ledger:
        holds = ledger.list_holds(include_inactive=True, now=datetime.now(UTC))
    return [(h.target_type.value, h.target) for h in holds]


def test_known_targets_are_placed_and_stored_under_their_logical_names(
    cli_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add("--version", "v0.0.1") == 0
    assert "(looked up: found)" in " ".join(capsys.readouterr().out.split())
    assert add("--account", "v0-0-1-uat-gh-sa") == 0  # the provider name: stored as the logical name
    assert "found as v0.0.1-uat-gh-sa" in " ".join(capsys.readouterr().out.split())
    assert add("--account", "v0.0.2-qa-acr-sa") == 0  # an ACR token, by its logical name
    assert cli_holds(cli_env) == [
        ("version", "v0.0.1"),
        ("account", "v0.0.1-uat-gh-sa"),
        ("account", "v0.0.2-qa-acr-sa"),
    ]
    assert cli_env.read_only(), cli_env.requests()


def test_unknown_targets_are_refused_with_the_nearest_known_names(
    cli_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add("--version", "v0.0.9") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--version: 'v0.0.9' is not known to the release repositories acme/product" in err
    assert "Did you mean" in err and "v0.0.1" in err and "add --future" in err

    assert add("--account", "v0.0.1-uatt-gh-sa") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--account: 'v0.0.1-uatt-gh-sa' is not known to the GitHub accounts of acme and the ACR tokens" in err
    assert "Did you mean v0.0.1-uat-gh-sa" in err

    assert add("--account", "xyz-sa") == 2  # nothing near: what is known is listed instead
    assert "Known: " in " ".join(capsys.readouterr().err.split())
    assert cli_holds(cli_env) == []

    assert add("--version", "v0.0.9", "--future") == 0  # not tagged yet, on purpose
    assert cli_holds(cli_env) == [("version", "v0.0.9")]
