"""`release-custodian sandbox serve` in a subprocess: its env file lets plain SDK scripts reach the sandbox."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from custodian.ledger.store import Ledger

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = (
    "AZURE_ARM_ENDPOINT",
    "REQUESTS_CA_BUNDLE",
    "AZURE_ACCESS_TOKEN",
    "AZURE_SUBSCRIPTION_IDS",
    "AZURE_STORAGE_CONNECTION_STRING",
    "GITHUB_BASE_URL",
    "GITHUB_TOKEN",
    "GITHUB_ORG",
    "GITHUB_RELEASE_REPOS",
)


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


@contextmanager
def serving(tmp_path: Path, env_file: Path, *options: str) -> Iterator[list[str]]:
    """`sandbox serve` in a subprocess, until its env file is written; on exit, SIGINT and its output."""
    process = subprocess.Popen(
        [sys.executable, "-m", "custodian.cli", "sandbox", "serve", "--env-file", str(env_file), *options],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "sandbox serve did not write its env file"
            time.sleep(0.2)
        yield output
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        output.append(" ".join(out.split()))
    assert process.returncode == 0, output
    assert "stopping" in output[0]


def ledger_holds(url: str) -> list[tuple[str, str, bool]]:
    now = datetime.now(UTC)
    with Ledger.open(url) as ledger:
        return [(h.target_type.value, h.target, h.active_at(now)) for h in ledger.list_holds(True, now)]


SEED_HOLDS = [("account", "v0.0.1-uat-gh-sa", False), ("version", "v0.0.0", True)]  # by placed_at


@pytest.mark.azurite
def test_serve_writes_the_env_contract_and_sdk_scripts_work(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    with serving(tmp_path, env_file) as output:
        env = read_env_file(env_file)
        assert set(CONTRACT) <= set(env)
        assert env["GITHUB_BASE_URL"].endswith("/api/v3")
        assert env["AZURE_ARM_ENDPOINT"].startswith("https://127.0.0.1:")
        assert "BlobEndpoint=http://127.0.0.1:" in env["AZURE_STORAGE_CONNECTION_STRING"]
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"

        script = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "list_from_env.py")],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert script.returncode == 0, script.stderr
        lines = script.stdout.splitlines()
        assert "acr-token qasecureregistry v0-0-2-qa-acr-sa enabled" in lines
        assert any(line.startswith("deployment acme/product v0.0.1 production") and "success" in line for line in lines)
        default_ledger = f"sqlite:///{tmp_path.resolve() / '.custodian' / 'ledger.sqlite'}"  # the sandbox config's
        assert ledger_holds(default_ledger) == SEED_HOLDS
    assert f"holds: 2 placed in {default_ledger}" in output[0]


def test_serve_places_the_scenarios_holds_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'ledger.sqlite'}"
    with serving(tmp_path, tmp_path / "first.env", "--no-azurite", "--ledger", url) as first:
        assert ledger_holds(url) == SEED_HOLDS  # in place before the env file says the sandbox is ready
    assert f"holds: 2 placed in {url}: H-" in first[0]
    assert "on version v0.0.0 (active)" in first[0] and "on account v0.0.1-uat-gh-sa (expired)" in first[0]
    with serving(tmp_path, tmp_path / "second.env", "--no-azurite", "--ledger", url) as second:
        pass
    assert f"holds: 0 placed in {url}; 2 already there" in second[0]
    assert ledger_holds(url) == SEED_HOLDS
    assert not (tmp_path / ".custodian").exists()  # --ledger: the sandbox config's ledger is left alone
