"""Fixtures for end-to-end tests: the seed sandbox (ARM + GitHub emulators) and a config bound to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custodian.commands.demo import SANDBOX_CONFIG
from custodian.commands.sandbox_holds import place_scenario_holds
from custodian.config import Config, LedgerConfig, ReportsConfig, load_config
from custodian.ledger.store import Ledger
from custodian.sandbox.runtime import Sandbox
from custodian.sandbox.scenario import load_scenario

READS = frozenset({"GET", "HEAD", "GRAPHQL"})


@dataclass
class Env:
    sandbox: Sandbox
    config: Config
    ledger: Ledger
    tmp: Path

    def read_only(self) -> bool:
        """Whether every request the emulators saw was a read: GET, HEAD, or a GraphQL query (the
        GitHub emulator's schema has no mutation type, so a GraphQL request cannot change anything)."""
        return {method for method, _, _ in self.requests()} <= READS

    def requests(self) -> list[tuple[str, str, int]]:
        """Every request both emulators saw, as (method, path, status); a GitHub GraphQL query (a POST
        on the wire, a read: the client sends queries only) shows as method `GRAPHQL`."""
        out = []
        for server in (self.sandbox.arm_server, self.sandbox.github_server):
            assert server is not None
            out += [("GRAPHQL" if r.path.endswith("/graphql") else r.method, r.path, r.status) for r in server.requests]
        return out

    def clear_logs(self) -> None:
        for server in (self.sandbox.arm_server, self.sandbox.github_server):
            assert server is not None
            server.clear_log()


def bind_config(sandbox: Sandbox, tmp: Path, monkeypatch: pytest.MonkeyPatch, **updates: object) -> Config:
    for key, value in sandbox.env.as_env().items():
        monkeypatch.setenv(key, value)
    config = load_config(SANDBOX_CONFIG)
    return config.model_copy(
        update={
            "ledger": LedgerConfig(url=f"sqlite:///{tmp / 'ledger.sqlite'}"),
            "reports": ReportsConfig(directory=tmp / "reports"),
            "reaper": None,  # the account tests leave the reaper (slow c7n subprocesses) to tests/reaper
            **updates,
        }
    )


@pytest.fixture()
def seed_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    scenario = load_scenario("seed")
    with Sandbox(scenario, workdir=tmp_path / "sandbox", with_azurite=False) as sandbox:
        config = bind_config(sandbox, tmp_path, monkeypatch)
        ledger = Ledger.open(config.ledger.url)
        place_scenario_holds(ledger, scenario, sandbox.clock.now(), config.holds.max_duration)
        sandbox.arm_server.clear_log()  # type: ignore[union-attr]
        sandbox.github_server.clear_log()  # type: ignore[union-attr]
        try:
            yield Env(sandbox, config, ledger, tmp_path)
        finally:
            ledger.close()
