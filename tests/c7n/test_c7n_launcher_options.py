"""The launcher's child-only options against the ARM emulator: --as-of, --read-only,
--record-operations, --retry-total/--retry-backoff. Every c7n run is a real subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custodian.collect.c7n.launcher import parse_as_of
from custodian.collect.c7n.runner import PolicyRunResult, run_policies
from custodian.sandbox.arm import ArmEmulator, start_arm
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.tls import SandboxTLS

SUB = "00000000-0000-4000-8000-0000000c7a02"
RG = "rg-launcher"
DISKS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/disks"
TOKEN = "canary-launcher-token-9a8b7c6d"
DUE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

POLICIES = """\
policies:
  - name: due
    resource: azure.disk
    filters:
      - type: marked-for-op
        tag: reap
        op: delete
  - name: old
    resource: azure.disk
    filters:
      - type: value
        key: properties.timeCreated
        value_type: age
        op: gt
        value: 30
  - name: tag-them
    resource: azure.disk
    actions:
      - type: tag
        tag: seen
        value: "yes"
"""
DELETE = """\
policies:
  - name: delete-marked
    resource: azure.disk
    filters:
      - type: marked-for-op
        tag: reap
        op: delete
    actions:
      - type: delete
"""


@pytest.fixture(scope="module")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArmEmulator, EmulatorServer, SandboxTLS]]:
    tls = SandboxTLS(tmp_path_factory.mktemp("launcher-tls"))
    emulator, server = start_arm(tls)
    yield emulator, server, tls
    server.stop()


@pytest.fixture
def seeded(arm: tuple[ArmEmulator, EmulatorServer, SandboxTLS]) -> tuple[ArmEmulator, EmulatorServer, SandboxTLS]:
    emulator, server, _ = arm
    server.set_faults(FaultPlan())
    store = emulator.store
    store.clear()
    store.add_subscription(SUB, "launcher")
    store.add_resource_group(SUB, RG, "eastus")
    store.put(
        {
            "id": f"{DISKS}/marked",
            "tags": {"reap": f"planned: delete@{DUE:%Y/%m/%d %H%M} UTC"},
            "sku": {"name": "Standard_LRS"},
            "properties": {"diskSizeGB": 8, "timeCreated": "2026-11-20T00:00:00Z"},
        }
    )
    server.clear_log()
    return arm


def _run(
    arm: tuple[ArmEmulator, EmulatorServer, SandboxTLS], text: str, tmp_path: Path, **options: object
) -> PolicyRunResult:
    _, server, tls = arm
    tmp_path.mkdir(parents=True, exist_ok=True)
    policy_file = tmp_path / "policies.yml"
    policy_file.write_text(text, encoding="utf-8")
    return run_policies(
        policy_file,
        tmp_path / "out",
        arm_endpoint=server.url,
        subscription_id=SUB,
        access_token=TOKEN,
        ca_bundle=str(tls.ca_bundle_path),
        timeout_s=60,
        **options,  # type: ignore[arg-type]
    )


def _names(result: PolicyRunResult, policy: str) -> set[str]:
    return {str(r["name"]) for r in result.policy(policy).resources or []}


def test_as_of_moves_c7n_clock_for_marks_and_ages(
    seeded: tuple[ArmEmulator, EmulatorServer, SandboxTLS], tmp_path: Path
) -> None:
    before = _run(seeded, POLICIES, tmp_path / "a", dry_run=True, as_of=DUE - timedelta(minutes=1))
    after = _run(seeded, POLICIES, tmp_path / "b", dry_run=True, as_of=DUE + timedelta(days=20))

    assert before.ok and after.ok, (before.problems, after.problems)
    assert _names(before, "due") == set() and _names(after, "due") == {"marked"}
    assert _names(before, "old") == set() and _names(after, "old") == {"marked"}  # created 2026-11-20
    assert _names(after, "tag-them") == {"marked"}  # dry run: listed, not tagged
    assert {r.method for r in seeded[1].requests} == {"GET"}


def test_read_only_refuses_mutations_before_they_are_sent(
    seeded: tuple[ArmEmulator, EmulatorServer, SandboxTLS], tmp_path: Path
) -> None:
    result = _run(seeded, POLICIES, tmp_path, read_only=True)  # not a dry run: c7n tries to tag

    assert not result.ok and result.exit_code == 3
    assert len(result.problems) == 1
    assert result.problems[0].startswith(
        "c7n tried 1 mutating request(s) in a read-only run (refused before sending): "
    )
    assert f"PATCH {seeded[1].url}/subscriptions/{SUB}/resourceGroups/{RG}" in result.problems[0]
    assert {r.method for r in seeded[1].requests} == {"GET"}  # nothing but reads reached the wire
    assert "seen" not in (seeded[0].store.get(f"{DISKS}/marked") or {}).get("tags", {})
    assert TOKEN not in repr(result)


def test_record_operations_keeps_each_delete_response_without_credentials(
    seeded: tuple[ArmEmulator, EmulatorServer, SandboxTLS], tmp_path: Path
) -> None:
    record = tmp_path / "operations.jsonl"
    result = _run(seeded, DELETE, tmp_path, as_of=DUE + timedelta(hours=1), record_operations=record)

    assert result.ok, result.problems
    (entry,) = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    assert entry["method"] == "DELETE" and entry["status"] == 202
    assert entry["url"].startswith(f"{seeded[1].url}{DISKS}/marked?api-version=")
    assert "/operations/" in entry["azure_async_operation"] and entry["retry_after"] == "1"
    assert TOKEN not in record.read_text(encoding="utf-8")


def test_c7n_output_is_owner_only_whatever_the_umask(
    seeded: tuple[ArmEmulator, EmulatorServer, SandboxTLS], tmp_path: Path
) -> None:
    record = tmp_path / "operations.jsonl"
    previous = os.umask(0o022)  # the parent's umask is permissive; the child's output must not be
    try:
        result = _run(seeded, DELETE, tmp_path, as_of=DUE + timedelta(hours=1), record_operations=record)
    finally:
        os.umask(previous)
    assert result.ok, result.problems
    out = tmp_path / "out"
    written = [out, *out.rglob("*"), record]
    files = [p for p in written if p.is_file()]
    assert any(p.name == "resources.json" for p in files) and record in files
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in written}
    assert modes == {name: "0o600" if (tmp_path / name).is_file() else "0o700" for name in modes}


def test_retry_settings_bound_how_long_a_failing_listing_is_retried(
    seeded: tuple[ArmEmulator, EmulatorServer, SandboxTLS], tmp_path: Path
) -> None:
    seeded[1].set_faults(FaultPlan(server_error=1.0, path_regex=r"Microsoft\.Compute/disks$", methods=("GET",)))
    policy = "policies:\n  - name: disks\n    resource: azure.disk\n"
    result = _run(seeded, policy, tmp_path, dry_run=True, retry_total=2, retry_backoff_s=0.1)

    assert not result.ok and result.duration_s < 30  # c7n-azure's default: 3 retries 45 s apart
    assert "InternalServerError" in result.policy("disks").problems[0]
    lists = [r for r in seeded[1].requests if r.path.endswith("/disks")]
    assert [r.status for r in lists] == [500, 500, 500]  # the first try and 2 retries


def test_parse_as_of_needs_a_zone() -> None:
    assert parse_as_of("2026-11-27T09:00:00Z") == datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert parse_as_of("2026-11-27T10:00:00+01:00") == datetime(2026, 11, 27, 9, tzinfo=UTC)
    for bad in ("2026-11-27T09:00:00", "tomorrow"):
        with pytest.raises(ValueError, match="--as-of"):
            parse_as_of(bad)


def test_the_shifted_clock_ticks_and_accepts_every_datetime() -> None:
    """In a child process (the shift replaces `datetime.datetime` for the whole interpreter)."""
    code = (
        "import datetime as dt, time\n"
        "from custodian.collect.c7n.launcher import shift_clock\n"
        "real = dt.datetime.now(dt.timezone.utc)\n"
        "shift_clock(dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))\n"
        "a = dt.datetime.now(dt.timezone.utc); time.sleep(0.05); b = dt.datetime.now(dt.timezone.utc)\n"
        "assert a.year == 2030 and b > a, (a, b)\n"
        "assert dt.datetime.utcnow().year == 2030 and dt.datetime.utcnow().tzinfo is None\n"
        "assert isinstance(real, dt.datetime) and isinstance(a, dt.datetime)\n"
        "assert isinstance(dt.datetime.fromisoformat('2026-01-01T00:00:00'), dt.datetime)\n"
        "assert time.time() < 1.8e9  # the wall clock of the process is not shifted\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
