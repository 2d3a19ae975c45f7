"""`findings.sarif`: the run's findings as SARIF 2.1.0, for GitHub code scanning (and any SARIF reader).

One run object, its tool `release-custodian` with one rule descriptor per registered rule
(`RunResult.context.rules`: id, title, what it checks, remediation, default level; a rule a finding
names that is not among them gets a plain descriptor), and one result per FAIL, ERROR or WARN
finding (HELD, FIXED and PASS findings are no alerts). Levels:

- ERROR (could not be checked) -> `error`;
- FAIL -> `error` (critical, high), `warning` (medium), `note` (low, info);
- WARN -> `warning` (critical, high), `note` (otherwise).

Rules carry `properties.security-severity` (critical 9.5, high 8.0, medium 5.5, low 3.0, info 0.0)
and the `security` tag, so GitHub ranks the alerts. A finding is about a cloud object, not a line of
code: its subject is the result's logical location (`kind: resource`, fully qualified by its ARM id
or `provider/scope/kind/name`); since GitHub code scanning accepts a result only with a file, every
result is also anchored to `RunResult.context.sarif_artifact` (`reports.sarif_artifact`, default
`release-custodian.yaml`), line 1. `partialFingerprints` (a hash of rule and subject) keep one alert
per rule and object across runs. `automationDetails.id` is `release-custodian/<mode>/<run-id>`
(GitHub's category: `release-custodian/<mode>`); an incomplete run says why in its invocation's
`toolExecutionNotifications` and has `executionSuccessful: false`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from custodian.model import Finding, RuleInfo, RunResult, Severity, Status, Subject

from .common import iso_utc, sorted_findings, verdict
from .costs import money

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
REPORTED: frozenset[Status] = frozenset({Status.FAIL, Status.ERROR, Status.WARN})
FINGERPRINT = "releaseCustodianSubject/v1"

SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
_SERIOUS = frozenset({Severity.CRITICAL, Severity.HIGH})


def level(status: Status, severity: Severity) -> str:
    """The SARIF level of a finding (see the module docstring)."""
    if status is Status.ERROR:
        return "error"
    if status is Status.FAIL:
        if severity in _SERIOUS:
            return "error"
        return "warning" if severity is Severity.MEDIUM else "note"
    if status is Status.WARN:
        return "warning" if severity in _SERIOUS else "note"
    return "none"


def _rule_name(rule: RuleInfo) -> str:
    words = "".join(c if c.isalnum() else " " for c in rule.title).split()
    return "".join(w[:1].upper() + w[1:] for w in words) or rule.id


def rule_descriptor(rule: RuleInfo) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": _rule_name(rule),
        "shortDescription": {"text": f"{rule.id}: {rule.title}"},
        "fullDescription": {"text": rule.checks or rule.title},
        "help": {"text": rule.remediation or rule.checks or rule.title},
        "defaultConfiguration": {"level": level(Status.FAIL, rule.severity)},
        "properties": {
            "tags": ["security", "release-custodian", rule.purpose],
            "precision": "high",
            "security-severity": SECURITY_SEVERITY[rule.severity],
        },
    }


def rules_of(result: RunResult) -> list[RuleInfo]:
    """The registered rules, then any rule a finding names that is not registered (plainly described)."""
    rules = list(result.context.rules)
    known = {r.id for r in rules}
    for finding in sorted_findings(result):
        if finding.rule not in known:
            known.add(finding.rule)
            rules.append(RuleInfo(finding.rule, finding.rule, "", finding.severity, finding.remediation, "report"))
    return rules


def qualified_name(subject: Subject) -> str:
    """The subject's fully qualified name: its ARM id, blob URL, else `provider/scope/kind/name`."""
    if subject.resource_id:
        return subject.resource_id
    return "/".join(part for part in (subject.provider, subject.scope, subject.kind, subject.provider_name) if part)


def fingerprint(finding: Finding) -> str:
    subject = finding.subject
    parts = (finding.rule, subject.provider, subject.kind, subject.scope or "", subject.provider_name)
    return hashlib.sha256("\x1f".join((*parts, subject.resource_id or "")).encode()).hexdigest()[:32]


def _text(finding: Finding) -> str:
    subject = finding.subject
    text = f"{finding.status.value} {finding.rule} {subject.kind} {subject.provider_name}: {finding.message}"
    return f"{text} Remediation: {finding.remediation}" if finding.remediation else text


def result_document(finding: Finding, rule_index: int, artifact: str) -> dict[str, Any]:
    subject = finding.subject
    properties: dict[str, Any] = {
        "status": finding.status.value,
        "severity": finding.severity.value,
        "provider": subject.provider,
        "kind": subject.kind,
        "name": subject.provider_name,
        "logicalName": subject.logical_name,
        "version": subject.version,
        "stage": subject.stage,
        "scope": subject.scope,
        "resourceId": subject.resource_id,
        "evidence": {key: finding.evidence[key] for key in sorted(finding.evidence)},
    }
    if finding.cost is not None:
        properties["costPerMonth"] = {"amount": money(finding.cost.monthly), "currency": finding.cost.currency}
    return {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": level(finding.status, finding.severity),
        "message": {"text": _text(finding)},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": artifact}, "region": {"startLine": 1}},
                "logicalLocations": [
                    {"name": subject.provider_name, "fullyQualifiedName": qualified_name(subject), "kind": "resource"}
                ],
            }
        ],
        "partialFingerprints": {FINGERPRINT: fingerprint(finding)},
        "properties": {key: value for key, value in properties.items() if value is not None},
    }


def build_sarif(result: RunResult) -> dict[str, Any]:
    """The SARIF log as plain JSON-able data."""
    run = result.run
    rules = rules_of(result)
    index = {rule.id: i for i, rule in enumerate(rules)}
    artifact = result.context.sarif_artifact
    invocation: dict[str, Any] = {
        "executionSuccessful": not result.incomplete,
        "startTimeUtc": iso_utc(run.started_at),
    }
    if run.finished_at is not None:
        invocation["endTimeUtc"] = iso_utc(run.finished_at)
    if result.incomplete:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": f"incomplete: {reason}"}} for reason in result.incomplete
        ]
    properties: dict[str, Any] = {"runId": run.run_id, "verdict": verdict(result).value, "forecast": result.forecast}
    if run.as_of is not None:
        properties["asOf"] = iso_utc(run.as_of)
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "release-custodian",
                        "version": run.tool_version,
                        "semanticVersion": run.tool_version,
                        "rules": [rule_descriptor(rule) for rule in rules],
                    }
                },
                "automationDetails": {"id": f"release-custodian/{run.mode.value}/{run.run_id}"},
                "invocations": [invocation],
                "columnKind": "unicodeCodePoints",
                "results": [
                    result_document(f, index[f.rule], artifact) for f in sorted_findings(result) if f.status in REPORTED
                ],
                "properties": properties,
            }
        ],
    }


def render_sarif(result: RunResult) -> str:
    """`findings.sarif` as text: UTF-8 JSON, two-space indent, trailing newline."""
    return json.dumps(build_sarif(result), indent=2, ensure_ascii=False) + "\n"
