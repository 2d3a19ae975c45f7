"""Azurite (the blob-storage emulator from npm) started as a subprocess on a free port.

The project pins `azurite` in package.json; `npm ci` installs it into `node_modules/`. The process
runs in memory (`--inMemoryPersistence`), without telemetry, accepting any `x-ms-version`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

# The public, documented development account key of the Azure storage emulators (not a secret).
DEV_ACCOUNT = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_LISTENING = re.compile(r"listens on (https?://[^\s]+)")


class AzuriteUnavailableError(RuntimeError):
    """Node.js or the project's pinned `azurite` package cannot be found or started."""


AZURITE_ENV = "RELEASE_CUSTODIAN_AZURITE"  # the azurite-blob executable, or a directory holding node_modules/
INSTALL_HINT = (
    "install it with `npm ci` in a checkout of release-custodian (the pinned version, into node_modules/), "
    "or `npm install -g azurite@3.37.0` (then it is on PATH), or point RELEASE_CUSTODIAN_AZURITE at the "
    "azurite-blob executable or at a directory holding node_modules/; or run `release-custodian demo "
    "--no-blobs` for the story without blobs"
)


def _in_node_modules(directory: Path) -> Path | None:
    for root in (directory, *directory.parents):
        candidate = root / "node_modules" / ".bin" / "azurite-blob"
        if candidate.exists():
            return candidate
    return None


def find_azurite_blob(search_from: list[Path] | None = None, environ: dict[str, str] | None = None) -> Path:
    """Locate `azurite-blob`: RELEASE_CUSTODIAN_AZURITE, then node_modules/ above the working directory
    and the package, then PATH; `AzuriteUnavailableError` says how to install it otherwise."""
    configured = (environ if environ is not None else dict(os.environ)).get(AZURITE_ENV)
    if configured:
        path = Path(configured).expanduser()
        found = path if path.is_file() else _in_node_modules(path)
        if found is None:
            raise AzuriteUnavailableError(f"{AZURITE_ENV}={configured}: no azurite-blob there; {INSTALL_HINT}")
        return found
    roots = search_from or [Path.cwd(), Path(__file__).resolve().parents[2]]
    for root in roots:
        found = _in_node_modules(root)
        if found is not None:
            return found
    on_path = shutil.which("azurite-blob")
    if on_path:
        return Path(on_path)
    raise AzuriteUnavailableError(f"Azurite (the blob-storage emulator) is not installed: {INSTALL_HINT}.")


class Azurite:
    """A running Azurite blob service; use as a context manager or call `stop()`."""

    def __init__(
        self, process: subprocess.Popen[str], blob_endpoint: str, output: deque[str], workdir: str | None = None
    ) -> None:
        self._process = process
        self._workdir = workdir
        self.blob_endpoint = blob_endpoint
        self._output = output

    @property
    def account_url(self) -> str:
        return f"{self.blob_endpoint}/{DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};"
            f"BlobEndpoint={self.account_url};"
        )

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_azurite(*, azurite_blob: Path | None = None, timeout_s: float = 30.0, memory_limit_mb: int = 512) -> Azurite:
    """Start Azurite's blob service on 127.0.0.1 and a free port; wait until it listens."""
    node = shutil.which("node")
    if node is None:
        raise AzuriteUnavailableError("Node.js (`node`) is not on PATH; install Node.js 20+ to run Azurite.")
    executable = azurite_blob or find_azurite_blob()
    workdir = tempfile.mkdtemp(prefix="azurite-")
    command = [
        node,
        str(executable),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        "0",
        "--inMemoryPersistence",
        "--extentMemoryLimit",
        str(memory_limit_mb),
        "--disableTelemetry",
        "--skipApiVersionCheck",
    ]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: deque[str] = deque(maxlen=200)
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            match = _LISTENING.search(line)
            if match and not found:
                found.append(match.group(1).rstrip("/"))
                ready.set()
        ready.set()

    threading.Thread(target=pump, name="azurite-output", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            break
    if not found:
        process.kill()
        process.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)
        tail = "\n".join(output) or "(no output)"
        raise AzuriteUnavailableError(f"Azurite did not start within {timeout_s:.0f}s:\n{tail}")
    return Azurite(process, found[0], output, workdir)
