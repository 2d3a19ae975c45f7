"""`findings.ocsf.json`: every finding as an OCSF Detection Finding (class 2004, schema 1.5.0), the
way Prowler emits them: a JSON array of events, built and validated with `py-ocsf-models`' models.

Per finding: `activity_id` Create (`type_uid` 200401), `severity_id` from its severity (critical 5,
high 4, medium 3, low 2, info 1), `status_code` the custodian's status and `status_id` New (FAIL,
ERROR, WARN), Suppressed (HELD: a hold keeps it) or Resolved (FIXED, PASS). `finding_info.uid` is
stable across runs (a hash of rule and subject, as SARIF's fingerprint), its title the rule's.
`metadata.event_code` is the rule id and `metadata.correlation_uid` the run id. The subject is the
one affected resource (`resources[0]`: name, uid = ARM id / blob URL / `provider/scope/kind/name`,
type, region, resource group, tags as `key:value` labels); `cloud` names the provider and the
account (an Azure subscription with its display name, or the GitHub organisation). What OCSF has no
field for (version, stage, cost per month, evidence) is in `unmapped`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from py_ocsf_models.events.findings.activity_id import ActivityID
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from py_ocsf_models.events.findings.detection_finding_type_id import DetectionFindingTypeID
from py_ocsf_models.events.findings.severity_id import SeverityID
from py_ocsf_models.events.findings.status_id import StatusID
from py_ocsf_models.objects.account import Account, TypeID
from py_ocsf_models.objects.cloud import Cloud
from py_ocsf_models.objects.finding_info import FindingInformation
from py_ocsf_models.objects.group import Group
from py_ocsf_models.objects.metadata import Metadata
from py_ocsf_models.objects.product import Product
from py_ocsf_models.objects.remediation import Remediation
from py_ocsf_models.objects.resource_details import ResourceDetails

from custodian.model import Finding, RunResult, Severity, Status

from .common import sorted_findings, utc
from .costs import money
from .labels import arm_parts, evidence_tags
from .sarif_report import fingerprint, qualified_name

SEVERITY_ID: dict[Severity, SeverityID] = {
    Severity.CRITICAL: SeverityID.Critical,
    Severity.HIGH: SeverityID.High,
    Severity.MEDIUM: SeverityID.Medium,
    Severity.LOW: SeverityID.Low,
    Severity.INFO: SeverityID.Informational,
}
STATUS_ID: dict[Status, StatusID] = {
    Status.FAIL: StatusID.New,
    Status.ERROR: StatusID.New,
    Status.WARN: StatusID.New,
    Status.HELD: StatusID.Suppressed,
    Status.FIXED: StatusID.Resolved,
    Status.PASS: StatusID.Resolved,
}
PRODUCT = "release-custodian"


def _cloud(finding: Finding, result: RunResult) -> Cloud:
    subject = finding.subject
    if subject.provider == "github":
        org = (subject.scope or "").removeprefix("github:")
        account = Account(name=org or "github", uid=org or "github", type_id=TypeID.Other, type="GitHub organization")
        return Cloud(provider="GitHub", account=account)
    subscription, _group = arm_parts(subject.resource_id, subject.scope)
    subscription = subscription or str(finding.evidence.get("subscription") or "")
    if not subscription:
        return Cloud(provider="Azure", region=finding.evidence.get("location") or None)
    account = Account(
        name=result.context.subscription_name(subscription) or subscription,
        uid=subscription,
        type_id=TypeID.Other,
        type="Azure subscription",
    )
    return Cloud(provider="Azure", account=account, region=finding.evidence.get("location") or None)


def _resource(finding: Finding) -> ResourceDetails:
    subject = finding.subject
    _subscription, group = arm_parts(subject.resource_id, subject.scope)
    tags = evidence_tags(finding.evidence)
    return ResourceDetails(
        name=subject.logical_name or subject.provider_name,
        uid=qualified_name(subject),
        type=subject.kind,
        region=finding.evidence.get("location") or None,
        group=Group(name=group, type="resource group") if group else None,
        labels=[f"{key}:{value}" for key, value in sorted(tags.items())] or None,
        namespace=subject.scope or None,
        data={"provider_name": subject.provider_name, "version": subject.version, "stage": subject.stage},
    )


def detection_finding(finding: Finding, result: RunResult, time: datetime) -> DetectionFinding:
    """One finding as a validated OCSF Detection Finding."""
    rules = {rule.id: rule for rule in result.context.rules}
    rule = rules.get(finding.rule)
    unmapped: dict[str, Any] = {
        "rule": finding.rule,
        "status": finding.status.value,
        "version": finding.subject.version,
        "stage": finding.subject.stage,
        "evidence": {key: finding.evidence[key] for key in sorted(finding.evidence)},
        "forecast": result.forecast,
    }
    if finding.cost is not None:
        unmapped["cost_per_month"] = {
            "amount": money(finding.cost.monthly),
            "currency": finding.cost.currency,
            "basis": finding.cost.basis,
        }
    remediation = finding.remediation or (rule.remediation if rule else "")
    epoch = int(time.timestamp())
    return DetectionFinding(
        activity_id=ActivityID.Create,
        activity_name=ActivityID.Create.name,
        type_uid=DetectionFindingTypeID.Create,
        type_name=f"Detection Finding: {ActivityID.Create.name}",
        time=epoch,
        time_dt=time,
        severity_id=SEVERITY_ID[finding.severity],
        severity=SEVERITY_ID[finding.severity].name,
        status_id=STATUS_ID[finding.status],
        status=STATUS_ID[finding.status].name,
        status_code=finding.status.value,
        status_detail=finding.message,
        message=finding.message,
        metadata=Metadata(
            event_code=finding.rule,
            correlation_uid=result.run.run_id,
            product=Product(name=PRODUCT, vendor_name=PRODUCT, uid=PRODUCT, version=result.run.tool_version),
            profiles=["cloud", "datetime"],
            labels=[result.run.mode.value, "applied" if result.run.applied else "read-only"],
        ),
        finding_info=FindingInformation(
            uid=f"{PRODUCT}-{finding.rule}-{fingerprint(finding)}",
            title=f"{finding.rule}: {rule.title}" if rule else finding.rule,
            desc=finding.message,
            types=[rule.purpose if rule else "report"],
            created_time=epoch,
            created_time_dt=time,
        ),
        resources=[_resource(finding)],
        cloud=_cloud(finding, result),
        remediation=Remediation(desc=remediation) if remediation else None,
        unmapped=unmapped,
    )


def ocsf_findings(result: RunResult) -> list[DetectionFinding]:
    """Every finding of the run, in report order, timed at the run's evaluation time (`as_of` or start)."""
    time = utc(result.run.as_of or result.run.started_at)
    return [detection_finding(f, result, time) for f in sorted_findings(result)]


def ocsf_events(result: RunResult) -> Iterator[dict[str, Any]]:
    """The events as plain JSON-able data, one at a time (a large run's events are never all in memory)."""
    time = utc(result.run.as_of or result.run.started_at)
    for finding in sorted_findings(result):
        yield detection_finding(finding, result, time).model_dump(mode="json", exclude_none=True)


def build_ocsf(result: RunResult) -> list[dict[str, Any]]:
    """The events as plain JSON-able data (None fields left out)."""
    return [event.model_dump(mode="json", exclude_none=True) for event in ocsf_findings(result)]


def render_ocsf(result: RunResult) -> str:
    """`findings.ocsf.json` as text: a JSON array, two-space indent, trailing newline."""
    return json.dumps(build_ocsf(result), indent=2, ensure_ascii=False) + "\n"
