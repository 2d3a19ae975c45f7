"""One verdict across the CLI, findings.json, report.html and junit.xml; incomplete and forecast runs say so
everywhere; the terminal prints the plan, the outcomes, the costs, a quiet summary and JSON for scripts."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest

from custodian.cli import main
from custodian.commands.demo import SANDBOX_CONFIG
from custodian.model import RunMode, Status
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from custodian.sandbox.faults import FaultPlan
from tests.integration.conftest import Env


def run(env: Env, request: RunRequest) -> RunOutcome:
    return run_lifecycle(env.config, request, ledger=env.ledger, clock=env.sandbox.clock.now)


def _junit_counts(path: Path) -> dict[str, int]:
    suite = ET.parse(path).getroot()
    return {key: int(suite.get(key) or 0) for key in ("tests", "failures", "errors", "skipped")}


def test_what_an_applied_run_fixed_is_fixed_in_every_report(seed_env: Env) -> None:
    outcome = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    findings = outcome.result.findings
    fixed = [f for f in findings if f.status is Status.FIXED]
    assert fixed and all("fixed by this run" in f.message and f.evidence["fixed_by"] for f in fixed)
    assert not [f for f in findings if f.status is Status.FAIL]
    assert int(outcome.exit_code) == 0
    document = json.loads(outcome.reports.findings_json.read_text())
    assert document["run"]["counts"]["FIXED"] == len(fixed) and document["run"]["counts"]["FAIL"] == 0
    assert document["run"]["complete"] is True and document["run"]["verdict"] != "FAIL"
    assert _junit_counts(outcome.reports.junit_xml)["failures"] == 0
    html = outcome.reports.report_html.read_text()
    assert 'data-status="FAIL"' not in html.split('id="findings"')[1].split("</table>")[0]
    assert 'data-status="FIXED"' in html


def test_an_incomplete_run_says_so_in_every_report_and_on_the_terminal(
    seed_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert seed_env.sandbox.arm_server is not None
    seed_env.sandbox.arm_server.set_faults(
        FaultPlan(server_error=1.0, path_regex="registries/qasecureregistry/tokens", methods=("GET",))
    )
    outcome = run(seed_env, RunRequest(RunMode.AUDIT))
    assert int(outcome.exit_code) == 1 and outcome.result.incomplete
    document = json.loads(outcome.reports.findings_json.read_text())
    assert document["run"]["complete"] is False and any("qasecureregistry" in r for r in document["run"]["incomplete"])
    html = outcome.reports.report_html.read_text()
    assert 'data-status="INCOMPLETE"' in html and "<title>INCOMPLETE" in html
    assert "INCOMPLETE" in outcome.reports.summary_md.read_text().splitlines()[0]
    assert _junit_counts(outcome.reports.junit_xml)["errors"] >= 1


def test_a_forecast_is_labelled_everywhere_and_never_latest(
    seed_env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(seed_env.tmp)
    monkeypatch.setenv("COLUMNS", "200")
    now = seed_env.sandbox.clock.now()
    today = run(seed_env, RunRequest(RunMode.AUDIT))
    later = run(seed_env, RunRequest(RunMode.AUDIT, as_of=now + timedelta(days=2)))
    document = json.loads(later.reports.findings_json.read_text())
    assert document["run"]["forecast"] is True and "as_of" in document["run"]
    assert "FORECAST at" in later.reports.report_html.read_text()
    assert "FORECAST" in later.reports.summary_md.read_text().splitlines()[0]
    assert json.loads(today.reports.findings_json.read_text())["run"]["forecast"] is False
    config = seed_env.config.model_copy()
    path = seed_env.tmp / "config.yaml"
    path.write_text(
        SANDBOX_CONFIG.read_text()
        + f"\nledger:\n  url: {config.ledger.url}\nreports:\n  directory: {config.reports.directory}\n"
    )
    capsys.readouterr()
    assert main(["report", "show", "latest", "-c", str(path)]) == 0
    shown = capsys.readouterr().out
    assert today.result.run.run_id in shown and later.result.run.run_id not in shown
    assert main(["report", "list", "-c", str(path)]) == 0
    assert "forecast at" in capsys.readouterr().out


def test_the_terminal_prints_the_plan_the_outcomes_the_costs_and_json_for_scripts(
    seed_env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(seed_env.tmp)
    monkeypatch.setenv("COLUMNS", "200")
    config = str(SANDBOX_CONFIG)
    assert main(["enforce", "-c", config, "--only", "accounts"]) == 3
    out = capsys.readouterr().out
    assert "plan (dry run: nothing was changed)" in out
    assert "delete_account" in out and "v0.0.1-prod-gh-sa" in out and "L3" in out
    assert main(["audit", "-c", config, "--only", "accounts", "--quiet"]) == 3
    quiet = capsys.readouterr().out
    assert "findings:" in quiet and "┏" not in quiet  # no table
    assert main(["audit", "-c", config, "--only", "accounts", "--format", "json"]) == 3
    document = json.loads(capsys.readouterr().out)
    assert {"run", "findings", "actions", "costs"} <= set(document)
    assert main(["enforce", "-c", config, "--only", "accounts", "--apply"]) == 0
    applied = capsys.readouterr().out
    assert "actions" in applied and "done" in applied and "FIXED" in applied
