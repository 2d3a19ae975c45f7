"""An ARM endpoint that accepts connections and never answers fails its scopes in seconds.

A local socket accepts every connection and never sends a byte (nor completes TLS). With
`azure.connect_timeout`/`read_timeout` of 1 s and `azure.retries: 1`, every ARM call (the SDK
clients' and the c7n children's) gives up after seconds: each subscription and registry is a
COLLECT ERROR, nothing is acted on, and the run ends well before one `reaper.c7n_timeout` (5 min).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from custodian.model import RunMode, Status
from custodian.run import ACCOUNTS, REAPER, RunTuning
from tests import reliability
from tests.reaper.support import PROD, SUB, reaper_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers on them."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)  # kept open, never read or written

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        server.close()


def test_an_endpoint_that_never_answers_fails_each_scope_in_seconds(tmp_path: Path, silent_port: int) -> None:
    with reaper_sandbox(tmp_path) as reaper:
        azure = reaper.config.azure.model_copy(
            update={
                "arm_endpoint": f"https://127.0.0.1:{silent_port}",
                "connect_timeout": timedelta(seconds=1),
                "read_timeout": timedelta(seconds=1),
                "retries": 1,
            }
        )
        config = reaper.with_config(azure=azure)
        started = time.monotonic()
        step = reaper.run("dead", RunMode.AUDIT, config=config, parts=frozenset({ACCOUNTS, REAPER}), tuning=RunTuning())
        elapsed = time.monotonic() - started
    errors = [f for f in step.findings if f.status is Status.ERROR and f.rule == "COLLECT"]
    scopes = {f.subject.scope for f in errors}
    reliability.record(
        "fault",
        fault="endpoint never answers",
        where="ARM (every call, c7n included)",
        injected=len(errors),
        outcome=f"{len(errors)} COLLECT ERRORs in {elapsed:.0f}s",
        survived=elapsed < 150 and f"/subscriptions/{SUB}" in scopes and not step.mutations(),
    )
    assert {f"/subscriptions/{SUB}", f"/subscriptions/{PROD}"} <= scopes, [f.message for f in errors]
    assert len(errors) >= 2 + len(config.azure.registries)  # each subscription and each registry's tokens
    assert int(step.outcome.exit_code) == 1
    assert elapsed < 150, f"a dead endpoint took {elapsed:.0f}s"  # before: c7n_timeout (5 min) per subscription
    print(f"dead ARM endpoint: the run ended in {elapsed:.1f}s with {len(errors)} COLLECT error(s)")
