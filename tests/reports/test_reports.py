"""Reports: every format of one hand-built RunResult, written to disk and read back.

The run covers several versions, every stage, both providers, every status, findings outside the
matrix, holds (active and released), actions with different outcomes, and hostile text (a
`<script>` payload, `|`, newlines, a leading `=`, an external `<img src>`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest

from custodian.model import (
    Action,
    ActionKind,
    ActionOutcome,
    ActionRecord,
    Finding,
    Hold,
    HoldTarget,
    ResourceKind,
    RunInfo,
    RunMode,
    RunResult,
    Scope,
    Severity,
    Status,
    Subject,
)
from custodian.reports import (
    CSV_COLUMNS,
    build_document,
    render_html,
    render_json,
    render_junit,
    render_markdown,
    report_paths,
    write_reports,
)
from custodian.reports.common import sorted_findings
from custodian.reports.csv_report import finding_row
from custodian.reports.formats import REPORT_FORMATS
from custodian.reports.retention import RUN_MARKER

# 00:30 at UTC+2 is 22:30 the day before in UTC: the run directory uses the UTC date.
STARTED = datetime(2024, 5, 2, 0, 30, tzinfo=timezone(timedelta(hours=2)))
STARTED_UTC = STARTED.astimezone(UTC)
RUN_ID = "20240501T223000Z-3f9a"
PAYLOAD = "=cmd|' /C calc'!A0 <script>alert('pwned')</script> | after pipe"
IMG = '<img src="https://evil.example/x.png">'
STATUS_ORDER = ["FAIL", "ERROR", "WARN", "HELD", "FIXED", "PASS"]


def account(provider: str, version: str, stage: str) -> Subject:
    kind = "gh" if provider == "github" else "acr"
    logical = f"{version}-{stage}-{kind}-sa"
    return Subject(
        provider=provider,
        kind=kind,
        provider_name=logical.replace(".", "-"),
        logical_name=logical,
        version=version,
        stage=stage,
        resource_id=None if provider == "github" else f"/subscriptions/s/registries/{stage}/tokens/{logical}",
        scope="org:acme" if provider == "github" else f"/subscriptions/s/registries/{stage}",
    )


def finding(
    rule: str, status: Status, subject: Subject, message: str, *, remediation: str = "", **evidence: str | None
) -> Finding:
    severity = {Status.FAIL: Severity.HIGH, Status.ERROR: Severity.CRITICAL}.get(status, Severity.INFO)
    return Finding(rule, status, severity, subject, message, dict(evidence), remediation)


def build_result(*, as_of: datetime | None = None) -> RunResult:
    gh = "github"
    az = "azure"
    findings = (
        finding("L1", Status.FAIL, account(gh, "v0.0.1", "qa"), PAYLOAD, remediation="disable it", tag="v0.0.1-uat"),
        finding("L1", Status.PASS, account(gh, "v0.0.1", "qa"), "tokens revoked"),
        finding(
            "L1",
            Status.FAIL,
            account(az, "v0.0.1", "qa"),
            "token still enabled\nsecond line | with pipe",
            remediation="set status disabled",
            last_used=None,
        ),
        finding("L1", Status.PASS, account(az, "v0.0.1", "uat"), "disabled"),
        finding("L2", Status.WARN, account(gh, "v0.0.1", "prod"), "prod deployment still pending"),
        finding("L3", Status.HELD, account(az, "v0.0.1", "prod"), "delete deferred: hold-1 until 2024-05-03"),
        finding("L3", Status.HELD, account(gh, "v0.0.1", "uat"), "delete deferred: hold-1"),
        finding("L1", Status.PASS, account(gh, "v0.0.2", "qa"), "no stage after qa yet"),
        finding("L1", Status.PASS, account(az, "v0.0.2", "qa"), "no stage after qa yet"),
        finding("L1", Status.ERROR, account(az, "v0.0.2", "uat"), "listing tokens failed: HTTP 429 after 5 retries"),
        finding(
            "L4",
            Status.WARN,
            Subject("azure", "virtualMachines", "vm-qa-1", version="v0.0.10", stage="qa", resource_id="/sub/vm-qa-1"),
            "VM still running after release",
        ),
        finding("L4", Status.PASS, Subject("azure", "disks", "disk-1", version="v0.0.10", stage="uat"), "gone"),
        finding("collect", Status.ERROR, Subject("github", "org", "acme", scope="org:acme"), "org members: 502"),
        finding(
            "naming",
            Status.FAIL,
            Subject("github", "gh", "v1-weird-sa"),
            "name does not parse",
            remediation=f"rename it {IMG}",
        ),
    )
    hold_active = Hold(
        "hold-1",
        HoldTarget.VERSION,
        "v0.0.1",
        "release sign-off | pending",
        "@manager-alice",
        STARTED_UTC - timedelta(hours=3),
        STARTED_UTC + timedelta(days=1),
    )
    hold_released = Hold(
        "hold-0",
        HoldTarget.ACCOUNT,
        "v0.0.2-qa-acr-sa",
        "debugging",
        "bob",
        STARTED_UTC - timedelta(days=2),
        STARTED_UTC + timedelta(days=2),
        released_at=STARTED_UTC - timedelta(days=1),
        released_by="carol",
        release_reason="done",
    )

    def record(
        kind: ActionKind, subject: Subject, outcome: ActionOutcome, minutes: int, detail: str = ""
    ) -> ActionRecord:
        action = Action(
            kind,
            subject,
            "L1",
            f"{subject.logical_name} must be disabled",
            Scope.github("acme") if subject.provider == "github" else Scope.subscription("s"),
            ResourceKind.GITHUB_ACCOUNT if subject.provider == "github" else ResourceKind.ACR_TOKEN,
            f"{subject.scope}|{subject.provider_name}",
        )
        return ActionRecord(action, outcome, STARTED_UTC + timedelta(minutes=minutes), detail)

    actions = (
        record(ActionKind.DISABLE, account(gh, "v0.0.1", "qa"), ActionOutcome.DONE, 2, "suspended; re-read confirms"),
        record(ActionKind.REMOVE_CREDENTIALS, account(az, "v0.0.1", "qa"), ActionOutcome.FAILED, 3, "ARM 500"),
        record(ActionKind.DELETE_ACCOUNT, account(az, "v0.0.1", "prod"), ActionOutcome.SKIPPED, 1, "held by hold-1"),
        record(ActionKind.DISABLE, account(az, "v0.0.1", "qa"), ActionOutcome.UNCONFIRMED, 4),
        record(ActionKind.REVOKE_PAT_GRANTS, account(gh, "v0.0.1", "qa"), ActionOutcome.PLANNED, 5),
    )
    run = RunInfo(
        run_id=RUN_ID,
        started_at=STARTED,
        finished_at=STARTED + timedelta(minutes=6, microseconds=250000),
        mode=RunMode.ENFORCE,
        applied=True,
        config_digest="sha256:" + "ab12" * 16,
        tool_version="0.1.0",
        as_of=as_of,
    )
    return RunResult(run=run, findings=findings, actions=actions, holds=(hold_active, hold_released))


@pytest.fixture()
def result() -> RunResult:
    return build_result()


def expected_matrix(result: RunResult) -> dict[tuple[str, str, str], str]:
    """Worst status per (version, stage, provider), computed independently of the code under test."""
    cells: dict[tuple[str, str, str], str] = {}
    for f in result.findings:
        s = f.subject
        if s.version is None or s.stage is None:
            continue
        key = (s.version, s.stage, s.provider)
        current = cells.get(key)
        if current is None or STATUS_ORDER.index(f.status.value) < STATUS_ORDER.index(current):
            cells[key] = f.status.value
    return cells


def parse_iso(text: str) -> datetime:
    assert text.endswith("Z"), text
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


# -- layout and atomic writes ----------------------------------------------------------------------


def test_write_reports_layout_uses_utc_date_and_leaves_no_temp_files(result: RunResult, tmp_path: Path) -> None:
    paths = write_reports(result, tmp_path)
    assert paths.directory == tmp_path / "2024-05-01" / RUN_ID
    assert [p.name for p in paths] == ["findings.json", "findings.csv", "summary.md", "report.html", "junit.xml"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert sorted(p.name for p in paths.directory.iterdir()) == sorted([RUN_MARKER, *(p.name for p in paths)])
    assert report_paths(result, tmp_path) == paths


@pytest.mark.parametrize("report_format", ["json", "csv", "sarif", "ocsf", "html"])
def test_streamed_reports_are_byte_identical_to_the_whole_document(
    result: RunResult, tmp_path: Path, report_format: str
) -> None:
    from custodian.reports import build_ocsf, build_sarif, render_csv
    from custodian.reports.html_report import TEMPLATE_NAME, build_context, environment

    whole = {
        "json": lambda: json.dumps(build_document(result), indent=2, ensure_ascii=False) + "\n",
        "csv": lambda: render_csv(result),
        "sarif": lambda: json.dumps(build_sarif(result), indent=2, ensure_ascii=False) + "\n",
        "ocsf": lambda: json.dumps(build_ocsf(result), indent=2, ensure_ascii=False) + "\n",
        "html": lambda: environment(None).get_template(TEMPLATE_NAME).render(build_context(result)),
    }[report_format]()
    paths = write_reports(result, tmp_path, formats=[report_format])
    assert paths.by_format[report_format].read_bytes() == whole.encode("utf-8")
    if report_format == "json":
        assert render_json(result) == whole
    if report_format == "csv":  # the CSV stream against the csv module writing the whole table at once
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerows([CSV_COLUMNS, *(finding_row(f) for f in sorted_findings(result))])
        assert whole == buffer.getvalue()


def test_report_files_are_owner_only_whatever_the_umask(result: RunResult, tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir(mode=0o755)
    previous = os.umask(0o022)  # permissive: plain open() would make 0644 files and 0755 directories
    try:
        paths = write_reports(result, tmp_path / "shared" / "reports", formats=REPORT_FORMATS)
        write_reports(result, tmp_path / "shared" / "reports", formats=REPORT_FORMATS)  # replaced: still 0600
    finally:
        os.umask(previous)
    assert len(list(paths)) >= 7
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in paths} == {p.name: "0o600" for p in paths}
    for directory in (paths.directory, paths.directory.parent, paths.directory.parent.parent):
        assert oct(directory.stat().st_mode & 0o777) == "0o700", directory
    assert oct((tmp_path / "shared").stat().st_mode & 0o777) == "0o755"  # an existing directory is left alone


def test_rewrite_replaces_files_and_failed_write_keeps_old_file(
    result: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_reports(result, tmp_path)
    write_reports(replace(result, findings=result.findings[:3]), tmp_path)
    assert json.loads(paths.findings_json.read_text())["run"]["counts"]["PASS"] == 1  # replaced
    second = {p: p.read_bytes() for p in paths}

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_reports(result, tmp_path)
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in paths} == second  # old files intact
    assert not [p for p in paths.directory.iterdir() if p.name.endswith(".tmp")]  # temp file removed


@pytest.mark.parametrize("bad", ["../escape", "a/b", ".", "..", "", "-dash-first", "x" * 200])
def test_run_id_must_be_a_plain_directory_name(result: RunResult, tmp_path: Path, bad: str) -> None:
    run = replace(result.run, run_id=bad)
    with pytest.raises(ValueError, match="run id"):
        write_reports(replace(result, run=run), tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- findings.json ---------------------------------------------------------------------------------


def test_json_top_level_contract(result: RunResult, tmp_path: Path) -> None:
    doc = json.loads(write_reports(result, tmp_path).findings_json.read_text(encoding="utf-8"))
    assert {"run", "findings", "actions", "holds"} <= doc.keys()

    run = doc["run"]
    contract = {"id", "started_at", "finished_at", "mode", "applied", "config_digest", "tool_version", "counts"}
    assert contract <= run.keys()
    assert "as_of" not in run
    assert run["id"] == RUN_ID
    assert parse_iso(run["started_at"]) == STARTED
    assert run["started_at"] == "2024-05-01T22:30:00Z"
    assert parse_iso(run["finished_at"]) == STARTED + timedelta(minutes=6, microseconds=250000)
    assert run["mode"] in {"audit", "enforce"} and run["mode"] == "enforce"
    assert run["applied"] is True
    assert isinstance(run["config_digest"], str) and isinstance(run["tool_version"], str)
    assert list(run["counts"]) == STATUS_ORDER
    assert all(isinstance(n, int) for n in run["counts"].values())
    assert run["verdict"] == "FAIL"

    findings = doc["findings"]
    assert len(findings) == len(result.findings)
    recount = {s: sum(1 for f in findings if f["status"] == s) for s in STATUS_ORDER}
    assert run["counts"] == recount == {"FAIL": 3, "ERROR": 2, "WARN": 2, "HELD": 2, "FIXED": 0, "PASS": 5}
    subject_keys = {"provider", "kind", "provider_name", "logical_name", "version", "stage", "resource_id", "scope"}
    for f in findings:
        assert set(f) >= {"rule", "status", "severity", "subject", "message", "evidence", "remediation"}
        assert set(f["subject"]) == subject_keys
        assert f["status"] in STATUS_ORDER
        assert f["severity"] in {s.value for s in Severity}
        assert isinstance(f["evidence"], dict)
    subject_order = ["provider", "kind", "provider_name", "logical_name", "version", "stage", "resource_id", "scope"]
    keys = [
        (STATUS_ORDER.index(f["status"]), f["rule"], tuple(f["subject"][k] or "" for k in subject_order))
        for f in findings
    ]
    assert keys == sorted(keys)  # status (worst first), then rule, then subject
    assert findings[0]["message"] == "token still enabled\nsecond line | with pipe"  # L1 azure before L1 github
    assert findings[1]["message"] == PAYLOAD

    assert len(doc["actions"]) == len(result.actions)
    for a in doc["actions"]:
        assert set(a) >= {"kind", "key", "rule", "reason", "outcome", "at", "detail", "subject"}
        assert set(a["subject"]) == subject_keys
        parse_iso(a["at"])
    assert [a["outcome"] for a in doc["actions"]] == ["skipped", "done", "failed", "unconfirmed", "planned"]
    assert doc["actions"][0]["key"] == result.actions[2].action.key

    holds = {h["id"]: h for h in doc["holds"]}
    assert [h["id"] for h in doc["holds"]] == ["hold-0", "hold-1"]
    for h in doc["holds"]:
        assert set(h) >= {"id", "target_type", "target", "reason", "placed_by", "placed_at", "until", "released_at"}
        assert isinstance(h["active"], bool)
        assert parse_iso(h["placed_at"]) < parse_iso(h["until"])
    assert holds["hold-1"]["active"] is True and holds["hold-1"]["released_at"] is None
    assert holds["hold-0"]["active"] is False and parse_iso(holds["hold-0"]["released_at"])


def test_json_as_of_and_unfinished_run() -> None:
    as_of = STARTED_UTC + timedelta(days=3)
    result = build_result(as_of=as_of)
    result = replace(result, run=replace(result.run, finished_at=None, mode=RunMode.AUDIT, applied=False))
    run = build_document(result)["run"]
    assert parse_iso(run["as_of"]) == as_of
    assert run["finished_at"] is None
    assert (run["mode"], run["applied"]) == ("audit", False)
    holds = {h["id"]: h for h in build_document(result)["holds"]}
    assert holds["hold-1"]["active"] is False  # judged at as_of, when the hold has expired
    assert holds["hold-1"]["state"] == "expired"


def test_json_is_deterministic_whatever_the_input_order(result: RunResult) -> None:
    shuffled = replace(result, findings=tuple(reversed(result.findings)), holds=tuple(reversed(result.holds)))
    assert render_json(shuffled) == render_json(result)


def test_empty_run_passes(result: RunResult, tmp_path: Path) -> None:
    empty = replace(result, findings=(), actions=(), holds=())
    paths = write_reports(empty, tmp_path)
    doc = json.loads(paths.findings_json.read_text())
    assert doc["run"]["verdict"] == "PASS" and sum(doc["run"]["counts"].values()) == 0
    assert paths.summary_md.read_text().startswith("## ✅ PASS")
    assert ET.parse(paths.junit_xml).getroot().get("tests") == "0"
    assert 'id="findings"' in paths.report_html.read_text()


# -- findings.csv ----------------------------------------------------------------------------------


def test_csv_rows_and_formula_injection_guard(result: RunResult, tmp_path: Path) -> None:
    text = write_reports(result, tmp_path).findings_csv.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(result.findings)
    assert tuple(next(csv.reader(io.StringIO(text)))) == CSV_COLUMNS
    assert {"rule", "status", "severity", "provider", "kind", "provider_name", "logical_name", "version"} <= set(
        CSV_COLUMNS
    )
    payload_rows = [r for r in rows if "calc" in r["message"]]
    assert len(payload_rows) == 1
    assert payload_rows[0]["message"] == "'" + PAYLOAD
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value
    multiline = next(r for r in rows if r["message"].startswith("token still enabled"))
    assert multiline["message"] == "token still enabled\nsecond line | with pipe"  # quoted, not split
    assert json.loads(multiline["evidence"]) == {"last_used": None}
    assert json.loads(payload_rows[0]["evidence"]) == {"tag": "v0.0.1-uat"}
    assert [r["status"] for r in rows] == [f["status"] for f in build_document(result)["findings"]]


# -- summary.md ------------------------------------------------------------------------------------


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_verdict_tables_and_escaping(result: RunResult, tmp_path: Path) -> None:
    text = write_reports(result, tmp_path).summary_md.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("## ❌ FAIL: 3 FAIL · 2 ERROR · 2 WARN · 2 HELD · 5 PASS")
    assert "2 actions failed or unconfirmed" in lines[0]
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text
    assert "\\| after pipe" in text
    assert "second line \\| with pipe" in text and "token still enabled<br>second line" in text
    assert "`@manager-alice`" in text  # in a code span: no @-mention notification

    # every table row keeps its column count: nothing in a cell broke the table
    tables: list[list[str]] = []
    for line in lines:
        if line.startswith("|"):
            if not tables or not tables[-1]:
                tables.append([])
            tables[-1].append(line)
        elif tables and tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) == 4  # counts, failing findings, holds, actions
    for table in tables:
        assert len({unescaped_pipes(row) for row in table}) == 1, table
    failing_rows = tables[1][2:]
    assert len(failing_rows) == 5  # 3 FAIL + 2 ERROR
    assert "### Holds (2)" in text and "### Actions (5)" in text


def test_markdown_is_short_top_failing_then_and_n_more(result: RunResult) -> None:
    many = tuple(
        finding("L1", Status.FAIL, Subject("github", "gh", f"sa-{i:03d}"), "still enabled") for i in range(130)
    )
    text = render_markdown(replace(result, findings=many + result.findings))
    section = text.split("### Failing findings (135)", 1)[1].split("\n\n")[1]
    assert len(section.splitlines()) == 2 + 50  # header, delimiter, the top 50
    assert "…and 85 more failing findings" in text
    assert len(text) < 65536  # fits a GitHub comment


# -- junit.xml -------------------------------------------------------------------------------------

# attributes junit-10.xsd (Jenkins xUnit) allows per element
_JUNIT_ATTRS = {
    "testsuites": {"name", "time", "tests", "failures", "errors"},
    "testsuite": {
        "name",
        "tests",
        "failures",
        "errors",
        "group",
        "time",
        "skipped",
        "timestamp",
        "hostname",
        "id",
        "package",
        "file",
        "log",
        "url",
    },
    "properties": set(),
    "property": {"name", "value"},
    "testcase": {"name", "time", "classname", "group"},
    "failure": {"type", "message"},
    "error": {"type", "message"},
    "skipped": {"type", "message"},
    "system-out": set(),
    "system-err": set(),
}
_JUNIT_REQUIRED = {
    "testsuite": {"name", "tests", "failures", "errors"},
    "property": {"name", "value"},
    "testcase": {"name"},
}
_JUNIT_CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"testsuite", "properties", "testcase", "system-out", "system-err"},
    "properties": {"property"},
    "testcase": {"skipped", "error", "failure", "system-out", "system-err"},
}


def check_junit_schema(element: ET.Element) -> None:
    """A structural check against junit-10.xsd: element nesting, allowed and required attributes."""
    assert set(element.attrib) <= _JUNIT_ATTRS[element.tag], (element.tag, element.attrib)
    assert _JUNIT_REQUIRED.get(element.tag, set()) <= set(element.attrib), (element.tag, element.attrib)
    for child in element:
        assert child.tag in _JUNIT_CHILDREN.get(element.tag, set()), (element.tag, child.tag)
        check_junit_schema(child)
    if element.tag in {"testsuites", "testsuite"}:
        assert re.fullmatch(r"[0-9]+(\.[0-9]*)?", element.get("time", "0"))


def test_junit_suites_per_rule_and_counts(result: RunResult, tmp_path: Path) -> None:
    root = ET.parse(write_reports(result, tmp_path).junit_xml).getroot()
    assert root.tag == "testsuites"
    check_junit_schema(root)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == sorted({f.rule for f in result.findings})
    assert root.get("tests") == str(len(result.findings))
    assert root.get("failures") == "3" and root.get("errors") == "2"
    assert len(root.findall(".//testcase/failure")) == 3
    assert len(root.findall(".//testcase/error")) == 2
    assert len(root.findall(".//testcase/skipped")) == 2
    for suite in suites.values():
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        assert suite.get("failures") == str(len(suite.findall("testcase/failure")))
        assert suite.get("errors") == str(len(suite.findall("testcase/error")))
        assert suite.get("skipped") == str(len(suite.findall("testcase/skipped")))
        assert all(c.get("classname") == suite.get("name") for c in cases)
    l1 = suites["L1"]
    assert (l1.get("tests"), l1.get("failures"), l1.get("errors")) == ("7", "2", "1")
    failure = l1.find("testcase/failure")
    assert failure is not None and failure.get("message") == "token still enabled\nsecond line | with pipe"
    assert failure.text is not None and "remediation: set status disabled" in failure.text
    warn_out = [c.findtext("system-out") for c in root.iter("testcase") if c.find("system-out") is not None]
    assert len(warn_out) == 2 and all(out and out.startswith("WARN: ") for out in warn_out)
    skipped = root.find(".//skipped")
    assert skipped is not None and skipped.get("message", "").startswith("delete deferred")


def test_junit_replaces_characters_xml_cannot_carry(result: RunResult) -> None:
    nasty = finding("L9", Status.FAIL, Subject("github", "gh", "x\x01y"), "bell\x07 and nul\x00")
    root = ET.fromstring(render_junit(replace(result, findings=(nasty,))))
    failure = root.find(".//failure")
    assert failure is not None and failure.get("message") == "bell\ufffd and nul\ufffd"


# -- report.html -----------------------------------------------------------------------------------

EXTERNAL_REFERENCE = [
    re.compile(r"""\b(?:src|href|action|poster|data|srcset)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE),
    re.compile(r"@import", re.IGNORECASE),
    re.compile(r"""url\(\s*["']?\s*(?:https?:)?//""", re.IGNORECASE),
    re.compile(r"<(?:script|link|iframe|object|embed|img)\b", re.IGNORECASE),
]


def test_html_is_self_contained_and_escaped(result: RunResult, tmp_path: Path) -> None:
    html = write_reports(result, tmp_path).report_html.read_text(encoding="utf-8")
    for pattern in EXTERNAL_REFERENCE:
        assert not pattern.search(html), pattern.pattern
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=&#34;https://evil.example/x.png&#34;&gt;" in html
    assert "default-src 'none'" in html  # the CSP forbids any external load
    assert 'id="findings"' in html and 'id="holds"' in html and 'id="actions"' in html and 'id="matrix"' in html
    assert len(re.findall(r"<tr [^>]*\bdata-rule=", html)) == len(result.findings)
    for (version, stage, provider), status in expected_matrix(result).items():
        assert f'id="m-{version}-{stage}-{provider}"' in html
        hook = f'data-version="{version}" data-stage="{stage}" data-provider="{provider}" data-status="{status}"'
        assert hook in html, (version, stage, provider, status)


def test_html_template_ships_as_package_data_and_can_be_overridden(result: RunResult, tmp_path: Path) -> None:
    packaged = resources.files("custodian.reports").joinpath("templates/report.html.j2")
    assert packaged.is_file()
    (tmp_path / "report.html.j2").write_text("<p>{{ run.id }} {{ findings | length }} {{ verdict }}</p>\n")
    assert render_html(result, template_dir=tmp_path) == f"<p>{RUN_ID} {len(result.findings)} FAIL</p>\n"


# -- headless Chromium -----------------------------------------------------------------------------


def find_chromium() -> str:
    """The Chromium binary (`$CHROMIUM` if set); fails under CI (where it must be installed), skips elsewhere."""
    override = os.environ.get("CHROMIUM")
    candidates = [override] if override else [shutil.which("chromium"), "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    looked = ", ".join(c for c in candidates if c)
    reason = f"headless Chromium is not installed (looked for {looked}; Debian: apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI is set, so the browser test must run")
    pytest.skip(reason)


def assert_screenshot_renders(result: RunResult, tmp_path: Path, window_size: str) -> None:
    """report.html renders to a real (non-trivial) PNG in headless Chromium."""
    binary = find_chromium()
    paths = write_reports(result, tmp_path / "reports")
    png = tmp_path / "report.png"
    size = f"--window-size={window_size}"
    chromium(binary, tmp_path / "profile", f"--screenshot={png}", size, paths.report_html.as_uri())
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


class DomCollector(HTMLParser):
    """Elements (tag, attributes) and the text inside each `tr[data-rule]` of a serialized DOM."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.row_texts: list[str] = []
        self._row_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if tag == "tr" and "data-rule" in attributes:
            self.row_texts.append("")
            self._row_depth = 1
        elif tag == "tr" and self._row_depth:
            self._row_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row_depth:
            self._row_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._row_depth:
            self.row_texts[-1] += data

    def having(self, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.elements
            if (tag is None or t == tag) and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


def matrix_cells(dom: DomCollector) -> Iterable[dict[str, str]]:
    return [a for _, a in dom.elements if "mcell" in a.get("class", "").split()]


@pytest.mark.chromium
def test_report_html_in_headless_chromium(result: RunResult, tmp_path: Path) -> None:
    binary = find_chromium()
    paths = write_reports(result, tmp_path / "reports")
    done = chromium(binary, tmp_path / "profile", "--dump-dom", paths.report_html.as_uri())
    dom = DomCollector()
    dom.feed(done.stdout)

    # the matrix: versions x stages x providers, each cell with the worst status
    cells = {(c["data-version"], c["data-stage"], c["data-provider"]): c["data-status"] for c in matrix_cells(dom)}
    versions = {f.subject.version for f in result.findings if f.subject.version and f.subject.stage}
    assert len(cells) == len(versions) * 3 * 2
    expected = expected_matrix(result)
    for key, status in cells.items():
        assert status == expected.get(key, "NONE"), key
    assert cells[("v0.0.1", "qa", "github")] == "FAIL"
    assert cells[("v0.0.2", "uat", "azure")] == "ERROR"
    assert cells[("v0.0.1", "prod", "azure")] == "HELD"
    assert cells[("v0.0.10", "uat", "github")] == "NONE"
    rows = [a["data-version"] for a in dom.having("tr") if "data-version" in a and "data-rule" not in a]
    assert rows == ["v0.0.10", "v0.0.2", "v0.0.1"]  # natural order, newest first

    # the findings table: one row per finding, in report order
    document = build_document(result)
    finding_rows = dom.having("tr")
    finding_rows = [a for a in finding_rows if "data-rule" in a]
    assert [(a["data-rule"], a["data-status"]) for a in finding_rows] == [
        (f["rule"], f["status"]) for f in document["findings"]
    ]
    assert dom.having("table", id="holds") and dom.having("table", id="actions")
    assert len(dom.having("tr", data_outcome="failed")) == 1
    assert len(dom.having("tr", data_state="active")) == 1

    # the payloads are text, not elements
    assert not dom.having("script") and not dom.having("img")
    assert any("<script>alert('pwned')</script>" in text for text in dom.row_texts)
    assert any(IMG in text for text in dom.row_texts)


@pytest.mark.chromium
def test_report_html_screenshot_renders(result: RunResult, tmp_path: Path) -> None:
    assert_screenshot_renders(result, tmp_path, "1400,1000")


def test_action_snapshots_never_reach_a_report(result: RunResult, tmp_path: Path) -> None:
    """Reports render only the fields they are given; the journal's object snapshots stay in the ledger."""
    canary = "canary-7f3c0e1b-do-not-print"
    records = tuple(replace(r, snapshot={"password": canary, "nested": {"token": canary}}) for r in result.actions)
    paths = write_reports(replace(result, actions=records), tmp_path)
    for path in paths:
        assert canary not in path.read_text(encoding="utf-8"), path.name
