"""`release-custodian sandbox serve` in a subprocess: its env file lets plain SDK scripts reach the sandbox."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


@pytest.mark.azurite
def test_serve_writes_the_env_contract_and_sdk_scripts_work(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "custodian.cli", "sandbox", "serve", "--env-file", str(env_file)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "sandbox serve did not write its env file"
            time.sleep(0.2)
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
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, output
    assert "stopping" in output
