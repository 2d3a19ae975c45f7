"""A scenario's holds placed in a ledger: what `sandbox serve` does, so that the sandbox tells its story.

Holds live in the custodian's ledger, not in an emulator. `sandbox serve` places the scenario's holds
(times resolved against the sandbox clock, as `demo` does) in the ledger the sandbox configuration
points at, or in the one `--ledger URL` names. A hold already there from an earlier `serve` (same
target, placed by the same person for the same reason, unreleased, and as active or as expired as the
scenario says) is not placed twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from custodian.commands.demo import SANDBOX_CONFIG
from custodian.config import Config, ConfigError, load_config
from custodian.errors import BadInputError
from custodian.ledger.store import Ledger
from custodian.model import Hold, HoldTarget

if TYPE_CHECKING:
    from custodian.sandbox.scenario import Scenario

SQLITE = "sqlite:///"


@dataclass(frozen=True)
class PlacedHolds:
    """What `place_scenario_holds` did, in which ledger."""

    ledger_url: str
    placed: tuple[Hold, ...]
    already: int  # scenario holds found in the ledger already

    def describe(self, now: datetime) -> str:
        if not self.placed and not self.already:
            return "holds: the scenario has none"
        listed = ", ".join(
            f"{h.hold_id} on {h.target_type.value} {h.target} ({'active' if h.active_at(now) else 'expired'})"
            for h in self.placed
        )
        already = f"; {self.already} already there" if self.already else ""
        return f"holds: {len(self.placed)} placed in {self.ledger_url}{already}" + (f": {listed}" if listed else "")


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sandbox_config(env: Mapping[str, str]) -> Config:
    """The sandbox configuration with its `${VARS}` taken from `env` (the process environment is restored)."""
    with _environment(env):
        try:
            return load_config(SANDBOX_CONFIG)
        except ConfigError as exc:
            raise BadInputError("\n".join(exc.problems)) from exc


def absolute_url(url: str) -> str:
    """A SQLite URL with a relative path made absolute against the working directory (as it is opened)."""
    path = url.removeprefix(SQLITE)
    if url.startswith(SQLITE) and path and not path.startswith(("/", ":memory:")):
        return SQLITE + str(Path(path).resolve())
    return url


def place_scenario_holds(ledger: Ledger, scenario: Scenario, now: datetime, max_duration: timedelta) -> PlacedHolds:
    """Place the scenario's holds (times resolved against `now`) that the ledger does not have yet."""
    from custodian.sandbox.scenario import resolved_holds

    existing = ledger.list_holds(include_inactive=True, now=now)
    placed: list[Hold] = []
    already = 0
    for hold in resolved_holds(scenario, now):
        target_type = HoldTarget.VERSION if hold.version else HoldTarget.ACCOUNT
        target = hold.version or hold.account or ""
        active = hold.placed_at <= now < hold.until
        if any(
            (e.target_type, e.target, e.placed_by, e.reason) == (target_type, target, hold.by, hold.reason)
            and e.released_at is None
            and e.active_at(now) == active
            for e in existing
        ):
            already += 1
            continue
        placed.append(
            ledger.place_hold(target_type, target, hold.reason, hold.by, hold.placed_at, hold.until, max_duration)
        )
    return PlacedHolds(ledger.url, tuple(placed), already)


def serve_holds(scenario: Scenario, env: Mapping[str, str], now: datetime, ledger_url: str | None) -> PlacedHolds:
    """Place the scenario's holds in `ledger_url`, or in the ledger of the sandbox configuration."""
    config = sandbox_config(env)
    url = absolute_url(ledger_url or config.ledger.url)
    with Ledger.open(url) as ledger:
        return place_scenario_holds(ledger, scenario, now, config.holds.max_duration)
