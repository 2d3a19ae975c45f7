"""`junit.xml`: findings as JUnit XML, so CI systems show them as test results.

Shape (valid against the Jenkins xUnit `junit-10.xsd`, the schema GitLab, Jenkins and most
JUnit readers accept): `<testsuites name="release-custodian">` holds one `<testsuite>` per rule
(sorted by rule name) with `tests`, `failures`, `errors`, `skipped`, `time="0"` and a UTC
`timestamp`, a few `<properties>` (run id, mode, applied, tool version), and one `<testcase>` per
finding (report order) named after its subject, `classname` = the rule. Per status:

- FAIL  -> `<failure message=... type="FAIL">` with subject, evidence and remediation as text
- ERROR -> `<error message=... type="ERROR">` likewise
- WARN  -> a passing test case with `<system-out>` carrying the warning
- HELD  -> `<skipped message=...>`
- PASS  -> an empty (passing) test case

Built with `xml.etree.ElementTree`; characters XML 1.0 forbids are replaced by U+FFFD.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import groupby

from custodian.model import Finding, RunResult, Status

from .common import sorted_findings, subject_label, utc

_XML_FORBIDDEN = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 cannot carry replaced by U+FFFD."""
    return _XML_FORBIDDEN.sub("\ufffd", text)


def _or_none(value: str | None) -> str:
    return "(none)" if value is None else value


def _details(finding: Finding) -> str:
    subject = finding.subject
    lines = [
        f"status: {finding.status.value} ({finding.severity.value})",
        f"subject: {subject_label(subject)}",
    ]
    for label, value in (
        ("version", subject.version),
        ("stage", subject.stage),
        ("resource_id", subject.resource_id),
        ("scope", subject.scope),
    ):
        if value:
            lines.append(f"{label}: {value}")
    lines.append(f"message: {finding.message}")
    if finding.remediation:
        lines.append(f"remediation: {finding.remediation}")
    if finding.evidence:
        lines.append("evidence:")
        lines += [f"  {key}: {_or_none(finding.evidence[key])}" for key in sorted(finding.evidence)]
    return xml_text("\n".join(lines) + "\n")


def _testcase(suite: ET.Element, finding: Finding) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {"name": xml_text(subject_label(finding.subject)), "classname": xml_text(finding.rule), "time": "0"},
    )
    message = xml_text(finding.message)
    if finding.status is Status.FAIL:
        ET.SubElement(case, "failure", {"message": message, "type": "FAIL"}).text = _details(finding)
    elif finding.status is Status.ERROR:
        ET.SubElement(case, "error", {"message": message, "type": "ERROR"}).text = _details(finding)
    elif finding.status is Status.HELD:
        ET.SubElement(case, "skipped", {"message": message})
    elif finding.status is Status.WARN:
        ET.SubElement(case, "system-out").text = "WARN: " + _details(finding)
    elif finding.status is Status.FIXED:  # passes: this run's own confirmed actions resolved it
        ET.SubElement(case, "system-out").text = "FIXED: " + _details(finding)


def build_junit(result: RunResult) -> ET.Element:
    """The `<testsuites>` element."""
    run = result.run
    timestamp = utc(run.started_at).strftime("%Y-%m-%dT%H:%M:%S")
    findings = sorted(sorted_findings(result), key=lambda f: f.rule)  # stable: report order within a rule
    root = ET.Element("testsuites", {"name": "release-custodian", "time": "0"})
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for rule, group in groupby(findings, key=lambda f: f.rule):
        cases = list(group)
        counts = {
            "tests": len(cases),
            "failures": sum(1 for f in cases if f.status is Status.FAIL),
            "errors": sum(1 for f in cases if f.status is Status.ERROR),
            "skipped": sum(1 for f in cases if f.status is Status.HELD),
        }
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": xml_text(rule),
                **{key: str(value) for key, value in counts.items()},
                "time": "0",
                "timestamp": timestamp,
                "id": xml_text(run.run_id),
            },
        )
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("run_id", run.run_id),
            ("mode", run.mode.value),
            ("applied", "true" if run.applied else "false"),
            ("tool_version", run.tool_version),
        ):
            ET.SubElement(properties, "property", {"name": name, "value": xml_text(value)})
        for finding in cases:
            _testcase(suite, finding)
        for key in totals:
            totals[key] += counts[key]
    root.attrib.update({key: str(value) for key, value in totals.items()})
    return root


def render_junit(result: RunResult) -> bytes:
    """`junit.xml` as UTF-8 bytes with an XML declaration."""
    root = build_junit(result)
    ET.indent(root, space="  ")
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
