"""The real `audit` and `accounts` jobs through the service against the seed sandbox, and what
`/healthz` and `/metrics` then serve over HTTP (parsed with prometheus_client's parser)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from custodian.config import JobConfig, JobKind, Mode, ScheduleConfig
from custodian.ledger import JobStatus
from custodian.service.health import HealthServer
from custodian.service.lease import LeaseKeeper
from custodian.service.metrics import ServiceMetrics
from custodian.service.runner import SchedulerService
from tests.integration.conftest import Env, seed_env  # noqa: F401 - the seed sandbox fixture
from tests.service.conftest import FakeClock, make_config


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    matching = [v for found, v in metrics.get(name, []) if all(found.get(k) == x for k, x in labels.items())]
    assert matching, f"no sample {name} {labels}"
    return sum(matching)


def test_audit_and_accounts_jobs_on_the_seed_sandbox_feed_metrics_and_health(seed_env: Env) -> None:  # noqa: F811
    start = seed_env.sandbox.clock.now()
    minute = start.replace(second=0, microsecond=0)
    schedule = ScheduleConfig(
        jobs={
            "audit": JobConfig(kind=JobKind.AUDIT, cron="* * * * *"),
            "accounts": JobConfig(kind=JobKind.ACCOUNTS, cron="* * * * *"),
            "reap": JobConfig(kind=JobKind.REAP, cron="0 2 * * *", enabled=False),
            "digest": JobConfig(kind=JobKind.DIGEST, cron="0 7 * * 1", enabled=False),
        }
    )
    config = seed_env.config.model_copy(update={"schedule": schedule, "mode": Mode.ENFORCE})
    clock = FakeClock(minute + timedelta(seconds=1))
    ledger = seed_env.ledger
    keeper = LeaseKeeper(
        ledger,
        holder="sandbox-replica",
        ttl=timedelta(seconds=30),
        renew_every=timedelta(seconds=10),
        clock=clock.now,
        monotonic=clock.monotonic,
        takeover=True,
    )
    metrics = ServiceMetrics(replica="sandbox-replica", version="test", ledger_backend=ledger.backend)
    service = SchedulerService(config, ledger, keeper, metrics, clock=clock.now)
    keeper.tick()

    assert service.fire("audit") is JobStatus.SUCCEEDED  # exit 3: failing findings are its product
    audit = ledger.latest_job_run("audit")
    assert audit is not None and audit.run_id is not None and "exit 3 (failing_findings)" in audit.detail
    assert seed_env.read_only(), seed_env.requests()
    assert audit.summary["findings"]["L1/FAIL"] >= 1

    clock.advance(timedelta(minutes=1))
    keeper.tick()
    assert service.fire("accounts") is JobStatus.SUCCEEDED  # enforce --apply: everything fixed
    accounts = ledger.latest_job_run("accounts")
    assert accounts is not None and "--apply" in accounts.detail and "exit 0 (ok)" in accounts.detail

    server = HealthServer("127.0.0.1", 0, service.health, metrics.render)
    server.start()
    try:
        status, body = get(f"http://127.0.0.1:{server.port}/healthz")
        health: dict[str, Any] = json.loads(body)
        assert status == 200 and health["healthy"] and health["role"] == "leader" and health["ledger_reachable"]
        assert set(health["jobs"]) == {"audit", "accounts"}
        status, body = get(f"http://127.0.0.1:{server.port}/metrics")
        assert status == 200
        assert get(f"http://127.0.0.1:{server.port}/nope")[0] == 404
    finally:
        server.stop()

    parsed = samples(body.decode())
    assert value(parsed, "release_custodian_job_runs_total", job="audit", outcome="succeeded") == 1
    assert value(parsed, "release_custodian_job_last_success_timestamp_seconds", job="accounts") > 0
    assert value(parsed, "release_custodian_job_last_duration_seconds", job="audit") > 0
    assert value(parsed, "release_custodian_findings", job="audit", rule="L1", status="FAIL") >= 1
    assert value(parsed, "release_custodian_findings", job="audit", rule="L3", status="HELD") >= 1
    assert value(parsed, "release_custodian_actions_total", job="accounts", kind="disable", outcome="done") >= 1
    assert value(parsed, "release_custodian_actions_total", job="accounts", kind="delete_account", outcome="done") >= 1
    assert value(parsed, "release_custodian_api_calls_total", job="audit", provider="github") > 0
    assert value(parsed, "release_custodian_api_calls_total", job="accounts", provider="azure", method="DELETE") > 0
    assert value(parsed, "release_custodian_lease_leader") == 1
    assert value(parsed, "release_custodian_lease_epoch") >= 1
    assert value(parsed, "release_custodian_lease_holder", holder="sandbox-replica") == 1
    assert value(parsed, "release_custodian_scheduler_info", replica="sandbox-replica", ledger="sqlite") == 1


class _Unreachable:
    """A ledger whose database does not answer (pure health logic: no database involved)."""

    url = "postgresql+psycopg://db.invalid/ledger"
    backend = "postgresql"

    def acquire_lease(self, *args: object, **kwargs: object) -> None:
        raise OSError("connection refused")


def test_healthz_is_503_when_the_ledger_does_not_answer(tmp_path: Path) -> None:
    clock = FakeClock()
    unreachable: Any = _Unreachable()
    keeper = LeaseKeeper(
        unreachable,
        holder="r",
        ttl=timedelta(seconds=30),
        renew_every=timedelta(seconds=10),
        clock=clock.now,
        monotonic=clock.monotonic,
    )
    metrics = ServiceMetrics(replica="r", version="test", ledger_backend="postgresql")
    config = make_config("sqlite://", tmp_path, {"tick": {"kind": "test-noop", "interval": "1m"}})
    service = SchedulerService(config, unreachable, keeper, metrics, clock=clock.now)
    keeper.tick()
    health = HealthServer("127.0.0.1", 0, service.health, metrics.render)
    health.start()
    try:
        status, body = get(f"http://127.0.0.1:{health.port}/healthz")
    finally:
        health.stop()
    document = json.loads(body)
    assert status == 503 and not document["healthy"] and document["role"] == "standby"
    assert not document["ledger_reachable"] and "connection refused" in document["ledger_error"]
    assert any("the ledger did not answer" in problem for problem in document["problems"])
