"""The ledger keeps each run's cost totals (revision 0004, `runs.costs`) for the finance trend, on
SQLite and PostgreSQL; an upgrade from 0003 keeps the runs already recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from custodian.ledger import Ledger, LedgerInputError
from custodian.ledger.store import MIGRATIONS_DIR

from .test_ledger import DAY, T0, run_info

COSTS = {
    "currency": "USD",
    "found": "218.43",
    "reclaimed": "218.43",
    "held": "11.52",
    "needs_decision": "280.32",
    "items": 22,
    "per_year": {"found": "2621.16"},
    "by_rule": {"O5": {"found": "0.00", "needs_decision": "280.32", "items": 1}},
    "incomplete": None,
}


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.open(ledger_url) as opened:
        yield opened


def test_a_finished_run_keeps_its_cost_totals(ledger: Ledger) -> None:
    ledger.start_run(run_info("r1", T0))
    ledger.finish_run("r1", T0 + timedelta(minutes=2), {"FAIL": 1}, "failing_findings", COSTS)
    record = ledger.get_run("r1")
    assert record is not None and record.costs == COSTS
    ledger.start_run(run_info("r2", T0 + DAY))
    ledger.finish_run("r2", T0 + DAY + timedelta(minutes=1), {}, "ok")  # no costs: NULL, as before 0004
    later = ledger.get_run("r2")
    assert later is not None and later.costs is None
    with pytest.raises(LedgerInputError, match="costs"):
        ledger.start_run(run_info("r3", T0 + 2 * DAY))
        ledger.finish_run("r3", T0 + 2 * DAY, {}, "ok", {"when": object()})


def test_runs_since_lists_the_runs_of_a_period_oldest_first(ledger: Ledger) -> None:
    for index in range(5):
        ledger.start_run(run_info(f"r{index}", T0 + index * DAY))
    assert [r.info.run_id for r in ledger.runs_since(T0 + 2 * DAY)] == ["r2", "r3", "r4"]
    assert [r.info.run_id for r in ledger.runs_since(T0 + 2 * DAY, limit=2)] == ["r3", "r4"]  # the newest
    assert ledger.runs_since(T0 + 9 * DAY) == []
    with pytest.raises(LedgerInputError):
        ledger.runs_since(T0, limit=0)


def test_upgrading_from_0003_keeps_the_runs(tmp_path_factory: pytest.TempPathFactory) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('upgrade')}/ledger.sqlite"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
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
        assert old is not None and old.costs is None and not old.finished
