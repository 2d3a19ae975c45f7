"""The `schedule` and `service` sections: defaults, per-job overrides, and errors that say why."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from custodian.config import TEST_JOBS_ENV, ConfigError, JobKind, Mode, load_config, parse_config
from tests.service.conftest import config_document

GOOD = Path(__file__).resolve().parents[1] / "config" / "good_base.yaml"


def with_sections(**sections: object) -> str:
    document = yaml.safe_load(GOOD.read_text())
    document.update(sections)
    return yaml.safe_dump(document)


def test_defaults_audit_hourly_accounts_quarter_hourly_reap_nightly_digest_weekly() -> None:
    config = load_config(GOOD)
    jobs = config.schedule.jobs
    assert {job_id: job.cron for job_id, job in jobs.items()} == {
        "audit": "0 * * * *",
        "accounts": "*/15 * * * *",
        "reap": "0 2 * * *",
        "digest": "0 7 * * 1",
    }
    assert all(job.timezone == "UTC" and job.enabled for job in jobs.values())
    assert jobs["accounts"].effective_mode is Mode.ENFORCE and jobs["audit"].effective_mode is Mode.AUDIT
    assert config.service.health.port is None  # the endpoint is off by default
    assert config.service.lease.ttl == timedelta(seconds=30)


def test_an_entry_overrides_only_what_it_gives() -> None:
    config = parse_config(
        with_sections(
            schedule={
                "misfire_grace": "2m",
                "jobs": {
                    "audit": {"enabled": False},
                    "accounts": {"interval": "5m", "timezone": "Europe/Paris"},
                    "nightly-audit": {"kind": "audit", "cron": "30 1 * * *"},
                },
            },
            service={"health": {"port": 9108, "bind": "0.0.0.0"}, "lease": {"ttl": "20s", "renew_every": "5s"}},
        )
    )
    jobs = config.schedule.jobs
    assert not jobs["audit"].enabled and jobs["audit"].cron == "0 * * * *"
    assert jobs["accounts"].cron is None and jobs["accounts"].interval == timedelta(minutes=5)
    assert jobs["nightly-audit"].kind is JobKind.AUDIT
    assert set(config.schedule.enabled_jobs()) == {"accounts", "reap", "digest", "nightly-audit"}
    assert config.service.health.port == 9108


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        ({"schedule": {"jobs": {"audit": {"cron": "61 * * * *"}}}}, "schedule.jobs.audit: minute: 61 is outside"),
        ({"schedule": {"jobs": {"audit": {"cron": "0 * * * *", "interval": "1h"}}}}, "exactly one of 'cron'"),
        ({"schedule": {"jobs": {"audit": {"timezone": "Nowhere/City"}}}}, "unknown timezone"),
        ({"schedule": {"jobs": {"audit": {"mode": "enforce"}}}}, "the audit job is read-only"),
        ({"schedule": {"jobs": {"extra": {"cron": "0 * * * *"}}}}, "schedule.jobs.extra.kind: required key is missing"),
        ({"schedule": {"jobs": {"Bad Id": {"kind": "audit", "cron": "@daily"}}}}, "job id 'Bad Id'"),
        ({"schedule": {"jobs": {"audit": {"interval": "0s"}}}}, "must be a positive duration"),
        ({"schedule": {"jobs": {"audit": {"cadence": "hourly"}}}}, "unknown key"),
        ({"service": {"lease": {"ttl": "10s", "renew_every": "6s"}}}, "at most half the ttl"),
        ({"service": {"health": {"port": 70000}}}, "service.health.port"),
    ],
)
def test_bad_schedule_and_service_settings_are_explained(sections: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_sections(**sections), "cfg.yaml")
    assert problem in str(info.value)


def test_test_job_kinds_are_refused_outside_the_test_suite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    document = config_document("sqlite:///x.sqlite", tmp_path, {"t": {"kind": "test-noop", "interval": "1s"}})
    parse_config(yaml.safe_dump(document))  # the fixture enables them here
    monkeypatch.delenv(TEST_JOBS_ENV)
    with pytest.raises(ConfigError, match="for the test-suite only"):
        parse_config(yaml.safe_dump(document))


def test_release_custodian_schedule_show_is_the_scheduler_code_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from custodian.cli import main
    from tests.service.conftest import write_config

    config = write_config(
        tmp_path / "c.yaml",
        f"sqlite:///{tmp_path / 'l.sqlite'}",
        {"audit": {"cron": "0 * * * *"}, "tick": {"kind": "test-noop", "interval": "5m"}},
    )
    assert main(["schedule", "-c", str(config), "--show"]) == 0
    shown = capsys.readouterr().out
    assert "audit" in shown and "cron '0 * * * *' (UTC)" in shown and "every 300s" in shown
    assert "accounts" not in shown  # disabled

    import scheduler

    assert scheduler.main(["-c", str(config), "--show"]) == 0
    assert capsys.readouterr().out == shown
    (tmp_path / "bad.yaml").write_text("schedule: {jobs: {audit: {cron: nope}}}\n")
    assert main(["schedule", "-c", str(tmp_path / "bad.yaml")]) == 2
