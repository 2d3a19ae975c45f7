"""Fixtures for the scheduled service: configs with test-only job kinds, a movable clock, and
scheduler processes (`python scheduler.py`) on a SQLite file or the local PostgreSQL.

PostgreSQL comes from `tests/ledger/conftest.py` (a throw-away database and a schema per test; the
tests fail instead of skipping when `CI` is set).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from custodian.config import TEST_JOBS_ENV, Config, parse_config
from custodian.ledger.store import Ledger
from tests.ledger.conftest import ledger_url, pg_database, pg_url  # noqa: F401 - fixtures used by these tests

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(autouse=True)
def _test_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test-only job kinds are accepted in these tests (and in the processes they start)."""
    monkeypatch.setenv(TEST_JOBS_ENV, "1")


class FakeClock:
    """A wall clock and a monotonic clock that move only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._mono = 1000.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            self._mono += delta.total_seconds()
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._mono += max(0.0, (when - self._now).total_seconds())
            self._now = when


def config_document(url: str, tmp: Path, jobs: dict[str, Any], **service: Any) -> dict[str, Any]:
    """A complete configuration whose standard jobs are off unless `jobs` says otherwise."""
    standard = {job_id: {"enabled": False} for job_id in ("audit", "accounts", "reap", "digest")}
    return {
        "github": {
            "mode": "enterprise-server",
            "base_url": "https://ghe.invalid/api/v3",
            "org": "acme",
            "release_repos": ["acme/app"],
            "token": {"env": "GITHUB_TOKEN_UNUSED"},
        },
        "azure": {"subscriptions": ["11111111-1111-4111-8111-111111111111"]},
        "ledger": {"url": url},
        "reports": {"directory": str(tmp / "reports")},
        "schedule": {"misfire_grace": "30s", "jobs": {**standard, **jobs}},
        "service": {"lease": {"ttl": "3s", "renew_every": "1s"}, **service},
    }


def make_config(url: str, tmp: Path, jobs: dict[str, Any], **service: Any) -> Config:
    return parse_config(yaml.safe_dump(config_document(url, tmp, jobs, **service)))


def write_config(path: Path, url: str, jobs: dict[str, Any], **service: Any) -> Path:
    path.write_text(yaml.safe_dump(config_document(url, path.parent, jobs, **service)))
    return path


def read_marker(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


RUN_SCHEDULER = REPO / "tests" / "service" / "run_scheduler.py"  # scheduler.py with the test-only job kinds


class SchedulerProcess:
    """`python scheduler.py -c CONFIG --log-format json` as a child process."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        env = {**os.environ, TEST_JOBS_ENV: "1", "PYTHONUNBUFFERED": "1"}
        self._log_file = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests" / "service" / "run_scheduler.py"),
                "-c",
                str(config),
                "--log-format",
                "json",
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def output(self) -> str:
        return self.log.read_text()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log_file.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[Path, str], SchedulerProcess]]:
    started: list[SchedulerProcess] = []

    def start(config: Path, name: str) -> SchedulerProcess:
        process = SchedulerProcess(config, tmp_path / f"{name}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


def open_ledger(url: str) -> Ledger:
    return Ledger.open(url)
