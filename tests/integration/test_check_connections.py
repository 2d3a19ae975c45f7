"""`config validate --check-connections` against the sandbox: one line per check, exit 2 if any failed.

The ledger is opened read-only (nothing created, nothing migrated), each endpoint gets one cheap
read with the configured credential, through the real SDKs, with a short timeout and no retries:
an endpoint that never answers fails in seconds. The emulators' request logs show reads only.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from custodian.cli import main
from custodian.config import ReportsConfig
from custodian.errors import BadInputError
from custodian.ledger.store import Ledger
from custodian.model import RunMode
from custodian.run import RunRequest, run_lifecycle
from tests.integration.conftest import Env

MUTATING = {"PUT", "PATCH", "POST", "DELETE"}
CONFIG = """\
github:
  mode: enterprise-server
  base_url: {github}
  org: acme
  release_repos: [acme/product]
  token: {{env: GITHUB_TOKEN}}
azure:
  arm_endpoint: {arm}
  ca_bundle: ${{REQUESTS_CA_BUNDLE}}
  subscriptions: ${{AZURE_SUBSCRIPTION_IDS}}
  access_token: {{env: AZURE_ACCESS_TOKEN}}
ledger: {{url: '{ledger}'}}
"""


def write_config(
    env: Env, ledger: str, *, arm: str = "${AZURE_ARM_ENDPOINT}", github: str = "${GITHUB_BASE_URL}"
) -> Path:
    path = env.tmp / "check.yaml"
    path.write_text(CONFIG.format(ledger=ledger, arm=arm, github=github), encoding="utf-8")
    return path


def validate(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str], str]:
    code = main(["config", "validate", str(path), "--check-connections", *extra])
    captured = capsys.readouterr()
    return code, [line for line in captured.out.splitlines() if line.startswith(("ok ", "FAILED "))], captured.err


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a black-holed endpoint)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    worker = threading.Thread(target=accept, daemon=True)
    worker.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        worker.join(timeout=2)
        for conn in accepted:
            conn.close()
        server.close()


def test_every_check_passes_on_the_sandbox_and_nothing_is_created(
    seed_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = seed_env.tmp / "new" / "ledger.sqlite"
    code, lines, err = validate(write_config(seed_env, f"sqlite:///{ledger}"), capsys)
    assert code == 0, (lines, err)
    assert [line.split()[:2] for line in lines] == [["ok", "ledger"], ["ok", "arm"], ["ok", "arm"], ["ok", "github"]]
    assert "does not exist yet: the first run creates it" in lines[0]
    assert "subscription 11111111-1111-4111-8111-111111111111" in lines[1] and "Enabled" in lines[1]
    assert "organization acme readable (token)" in lines[3]
    assert not ledger.parent.exists()  # nothing created
    assert [r for r in seed_env.requests() if r[0] in MUTATING] == []  # reads only


def test_an_existing_ledger_reports_its_schema(seed_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = validate(write_config(seed_env, seed_env.config.ledger.url), capsys)  # the fixture's, migrated
    assert code == 0 and "schema 0009" in lines[0]


def test_a_wrong_postgresql_url_fails_its_check_and_the_others_still_run(
    seed_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code, lines, err = validate(
        write_config(seed_env, "postgresql+psycopg://custodian:s3cret@127.0.0.1:1/ledger"), capsys
    )
    assert code == 2 and time.monotonic() - started < 20
    assert lines[0].startswith("FAILED ledger postgresql+psycopg://custodian:***@127.0.0.1:1/ledger: cannot connect")
    assert "s3cret" not in " ".join(lines) + err
    assert [line.split()[:2] for line in lines[1:]] == [["ok", "arm"], ["ok", "arm"], ["ok", "github"]]
    assert "1 of 4 connection checks failed" in " ".join(err.split())


def test_a_garbage_sqlite_file_fails_its_check_and_is_left_alone(
    seed_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = seed_env.tmp / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database " * 100)
    code, lines, _ = validate(write_config(seed_env, f"sqlite:///{garbage}"), capsys)
    assert code == 2
    assert lines[0].startswith(f"FAILED ledger sqlite:///{garbage}: {garbage} is not a SQLite")
    assert "file is not a database" in lines[0]
    assert garbage.read_bytes() == b"this is not a database " * 100


def test_unreachable_endpoints_fail_in_seconds(
    seed_env: Env, capsys: pytest.CaptureFixture[str], silent_port: int
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there: refused at once
    path = write_config(
        seed_env,
        f"sqlite:///{seed_env.tmp / 'l.sqlite'}",
        arm=f"https://127.0.0.1:{silent_port}",
        github=f"http://127.0.0.1:{closed_port}/api/v3",
    )
    started = time.monotonic()
    code, lines, _ = validate(path, capsys, "--timeout", "1")
    elapsed = time.monotonic() - started
    assert code == 2 and elapsed < 15, (elapsed, lines)
    names = [line.split()[:2] for line in lines]
    assert names == [["ok", "ledger"], ["FAILED", "arm"], ["FAILED", "arm"], ["FAILED", "github"]]
    assert all("timed out" in line.lower() for line in lines[1:3]), lines
    assert "refused" in lines[3].lower(), lines


def test_a_reports_directory_that_cannot_be_made_refuses_the_run_before_any_run_row(seed_env: Env) -> None:
    blocker = seed_env.tmp / "a-file"
    blocker.write_text("not a directory")
    config = seed_env.config.model_copy(
        update={"reports": ReportsConfig.model_construct(directory=blocker / "reports")}
    )
    with pytest.raises(BadInputError, match=r"reports.directory: cannot create .*a-file/reports"):
        run_lifecycle(config, RunRequest(RunMode.AUDIT), ledger=seed_env.ledger, clock=seed_env.sandbox.clock.now)
    assert seed_env.ledger.list_runs() == []
    assert seed_env.requests() == []  # refused before any provider was asked anything


def test_the_help_teaches_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["config", "validate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--check-connections" in out and "one cheap read-only request to each configured endpoint" in out
    assert "exit 2 if any failed" in out


def test_a_ledger_it_opened_is_untouched_by_the_check(seed_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    path = seed_env.tmp / "kept.sqlite"
    Ledger.open(f"sqlite:///{path}").close()
    before = path.read_bytes()
    code, lines, _ = validate(write_config(seed_env, f"sqlite:///{path}"), capsys)
    assert code == 0 and "schema 0009" in lines[0]
    assert path.read_bytes() == before


AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="  # public


def test_storage_accounts_are_checked_each_on_its_own(
    seed_env: Env, capsys: pytest.CaptureFixture[str], silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A black-holed blob endpoint fails in about the timeout; a secret that is not set fails its own check."""
    monkeypatch.setenv(
        "SILENT_STORAGE",
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{silent_port}/devstoreaccount1;",
    )
    monkeypatch.delenv("UNSET_STORAGE", raising=False)
    path = write_config(seed_env, f"sqlite:///{seed_env.tmp / 'l.sqlite'}")
    path.write_text(
        path.read_text(encoding="utf-8")
        + "reaper:\n  mark_grace: 24h\n  storage_accounts:\n"
        + "    - {name: silent, subscription: s1, connection_string: {env: SILENT_STORAGE}}\n"
        + "    - {name: unset, subscription: s1, connection_string: {env: UNSET_STORAGE}}\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    code, lines, _ = validate(path, capsys, "--timeout", "1")
    assert code == 2 and time.monotonic() - started < 15, lines
    blob = [line for line in lines if line.split()[1] == "blob"]
    assert [line.split()[0] for line in blob] == ["FAILED", "FAILED"], lines
    assert "storage account silent" in blob[0] and "timed out" in blob[0].lower()
    assert "storage account unset" in blob[1] and "UNSET_STORAGE is not set" in blob[1]
    assert AZURITE_KEY not in " ".join(lines)
    assert [line.split()[:2] for line in lines if line.split()[1] != "blob"] == [
        ["ok", "ledger"],
        ["ok", "arm"],
        ["ok", "arm"],
        ["ok", "github"],
    ]
