"""The ledger keeps what started each run (revision 0008, `runs.trigger`) on SQLite and PostgreSQL,
and an upgrade from 0007 keeps the runs already recorded (their trigger unknown: NULL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from custodian.ledger import Ledger, LedgerInputError
from custodian.ledger.store import MIGRATIONS_DIR

from .test_ledger import DAY, T0, run_info


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.open(ledger_url) as opened:
        yield opened


def test_every_run_keeps_its_trigger(ledger: Ledger) -> None:
    triggers = {"r1": "schedule:accounts@2025-03-01T12:00:00Z", "r2": "event:72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    for index, (run_id, trigger) in enumerate(triggers.items()):
        ledger.start_run(replace(run_info(run_id, T0 + index * DAY), trigger=trigger))
    ledger.start_run(run_info("r3", T0 + 2 * DAY))  # started by a person: no trigger
    read = {r.info.run_id: r.info.trigger for r in ledger.list_runs()}
    assert read == {**triggers, "r3": None}
    assert [r.info.trigger for r in ledger.runs_since(T0 + DAY)] == [triggers["r2"], None]
    got = ledger.get_run("r1")
    assert got is not None and got.info.trigger == triggers["r1"]
    with pytest.raises(LedgerInputError, match="trigger"):
        ledger.start_run(replace(run_info("r4", T0 + 3 * DAY), trigger="x" * 513))
    assert ledger.get_run("r4") is None


def test_upgrading_from_0007_keeps_the_runs_with_no_trigger(tmp_path_factory: pytest.TempPathFactory) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('upgrade')}/ledger.sqlite"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0007")
            conn.execute(
                text(
                    "INSERT INTO runs (id, started_at, mode, applied, config_digest, tool_version) "
                    "VALUES ('old', '2025-03-01 12:00:00', 'audit', 0, 'sha256:abc', '0.1.0')"
                )
            )
    finally:
        engine.dispose()
    with Ledger.open(url) as ledger:  # upgrades to head
        old = ledger.get_run("old")
        assert old is not None and old.info.trigger is None
        ledger.start_run(replace(run_info("new", T0 + DAY), trigger="schedule:accounts"))
        new = ledger.get_run("new")
        assert new is not None and new.info.trigger == "schedule:accounts"
