"""Cost reports for finance: cost.csv, findings.json `costs`, the summary.md finance block and the
cost section of report.html (inline SVG charts), from one hand-built priced run.

The run has ARM leftovers and orphans in two subscriptions, blobs (scope: a storage account), a
resource two rules flag (counted once), held resources, a confirmed deletion, a deletion that is
not confirmed, a finding priced in another currency, findings without a cost, and a hostile name.
Expected sums are computed here from the findings, independently of the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from custodian.model import (
    Action,
    ActionKind,
    ActionOutcome,
    ActionRecord,
    Cost,
    Finding,
    PriceTableInfo,
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
    COST_CSV_COLUMNS,
    render_cost_csv,
    render_html,
    render_markdown,
    write_reports,
)

from .test_reports import (
    EXTERNAL_REFERENCE,
    DomCollector,
    assert_screenshot_renders,
    chromium,
    find_chromium,
    unescaped_pipes,
)

STARTED = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
SUB_A = "11111111-1111-4111-8111-111111111111"
SUB_B = "22222222-2222-4222-8222-222222222222"
PRICES = PriceTableInfo("approximate Azure list prices", "2026-11-26", "eastus", "USD")
HOSTILE = '=HYPERLINK("https://evil.example","x")'


def arm(sub: str, group: str, rtype: str, name: str, version: str | None, stage: str | None, kind: str) -> Subject:
    rid = f"/subscriptions/{sub}/resourceGroups/{group}/providers/{rtype}/{name}"
    return Subject("azure", kind, name, version=version, stage=stage, resource_id=rid, scope=f"/subscriptions/{sub}")


def blob(path: str, version: str | None, stage: str | None) -> Subject:
    url = f"https://releaseartifacts.blob.core.windows.net/{path}"
    return Subject("azure", "blob", path, version=version, stage=stage, resource_id=url, scope="releaseartifacts")


def usd(amount: str, basis: str = "test") -> Cost:
    return Cost(Decimal(amount), "USD", basis)


VM = arm(SUB_A, "rg-qa", "Microsoft.Compute/virtualMachines", "vm-qa-1", "v0.0.1", "qa", "virtualMachines")
DISK = arm(SUB_A, "rg-qa", "Microsoft.Compute/disks", "disk-qa-1", "v0.0.1", "qa", "disks")
PIP = arm(SUB_B, "rg-uat", "Microsoft.Network/publicIPAddresses", "pip-uat-1", "v0.0.1", "uat", "publicIPAddresses")
NIC = arm(SUB_B, "rg-uat", "Microsoft.Network/networkInterfaces", "nic-uat-1", "v0.0.1", "uat", "networkInterfaces")
ORPHAN = arm(SUB_B, "rg-misc", "Microsoft.Compute/disks", "disk-orphan", None, None, "disks")
WEIRD = arm(SUB_B, "rg-misc", "Microsoft.Compute/disks", HOSTILE, "v0.0.10", "uat", "disks")
EURO = arm(SUB_B, "rg-eu", "Microsoft.Compute/disks", "disk-eu", "v0.0.2", "qa", "disks")
BLOB_L4 = blob("release-artifacts/v0.0.1/qa/report.xml", "v0.0.1", "qa")
BLOB_HELD = blob("ci-scratch/tmp/core.dump", None, None)


def finding(rule: str, status: Status, subject: Subject, cost: Cost | None, **evidence: str) -> Finding:
    return Finding(rule, status, Severity.MEDIUM, subject, f"{rule} {subject.provider_name}", evidence, "", cost)


def build_result() -> RunResult:
    findings = (
        finding("L4", Status.FAIL, VM, usd("30.37"), vm_size="Standard_B2s"),
        finding("L4", Status.FAIL, DISK, usd("16.90"), sku="Premium_LRS", disk_size_gb="128"),
        finding("O1", Status.FAIL, DISK, usd("16.90"), sku="Premium_LRS", disk_size_gb="128"),  # same disk
        finding("L4", Status.HELD, PIP, usd("3.65"), sku="Standard"),
        finding("L4", Status.FAIL, NIC, usd("0.00"), basis="free"),
        finding("O1", Status.FAIL, ORPHAN, usd("5.76"), sku="Standard_LRS", disk_size_gb="128"),
        finding("L4", Status.FAIL, WEIRD, usd("1.28"), sku="Standard_LRS"),
        finding("L4", Status.FAIL, EURO, Cost(Decimal("9.99"), "EUR", "eur table")),
        finding("L4", Status.FAIL, BLOB_L4, usd("0.01"), tier="Hot", size_bytes="4096"),
        finding("O6", Status.HELD, BLOB_HELD, usd("0.02"), tier="Cool", size_bytes="131072"),
        finding("L1", Status.FAIL, Subject("github", "gh", "v0-0-1-qa-gh-sa", version="v0.0.1", stage="qa"), None),
        finding("L4", Status.ERROR, Subject("azure", "storage_account", "releaseartifacts"), None),
    )

    def record(kind: ActionKind, subject: Subject, outcome: ActionOutcome, minutes: int) -> ActionRecord:
        action = Action(
            kind,
            subject,
            "L4",
            "reap",
            Scope.subscription(str(subject.scope).split("/")[2] if "/" in str(subject.scope) else "s"),
            ResourceKind.BLOB if subject.kind == "blob" else ResourceKind.VIRTUAL_MACHINE,
            (subject.resource_id or subject.provider_name).lower(),
        )
        return ActionRecord(action, outcome, STARTED + timedelta(minutes=minutes))

    actions = (
        record(ActionKind.MARK, VM, ActionOutcome.DONE, -60 * 24 * 3),
        record(ActionKind.DELETE_RESOURCE, VM, ActionOutcome.DONE, 2),
        record(ActionKind.MARK, DISK, ActionOutcome.DONE, 3),
        record(ActionKind.DELETE_RESOURCE, NIC, ActionOutcome.UNCONFIRMED, 4),
        record(ActionKind.DELETE_RESOURCE, BLOB_L4, ActionOutcome.DONE, 5),
    )
    run = RunInfo(
        "20261126T060000Z-enforce-abc123",
        STARTED,
        STARTED + timedelta(minutes=9),
        RunMode.ENFORCE,
        True,
        "sha256:0123456789abcdef",
        "0.1.0",
    )
    return RunResult(run, findings, actions, price_table=PRICES)


@pytest.fixture()
def result() -> RunResult:
    return build_result()


def expected(result: RunResult, currency: str = "USD") -> dict[str, Decimal]:
    """Sums straight from the findings and actions: one cost per subject (its highest estimate)."""
    cost: dict[tuple[str, str, str], Decimal] = {}
    status: dict[tuple[str, str, str], set[Status]] = {}
    for f in result.findings:
        if f.cost is None or f.cost.currency != currency:
            continue
        key = (f.subject.provider, f.subject.scope or "", f.subject.provider_name)
        cost[key] = max(cost.get(key, Decimal(0)), f.cost.monthly)
        status.setdefault(key, set()).add(f.status)
    deleted = {
        (r.action.subject.provider, r.action.subject.scope or "", r.action.subject.provider_name)
        for r in result.actions
        if r.action.kind is ActionKind.DELETE_RESOURCE and r.outcome is ActionOutcome.DONE
    }
    return {
        "found": sum((c for k, c in cost.items() if Status.FAIL in status[k]), Decimal("0.00")),
        "held": sum((c for k, c in cost.items() if status[k] == {Status.HELD}), Decimal("0.00")),
        "reclaimed": sum((c for k, c in cost.items() if k in deleted), Decimal("0.00")),
        "all": sum(cost.values(), Decimal("0.00")),
        "items": Decimal(len(cost)),
    }


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# -- cost.csv --------------------------------------------------------------------------------------


def test_cost_csv_totals_agree_with_the_per_finding_costs(result: RunResult, tmp_path: Path) -> None:
    paths = write_reports(result, tmp_path)
    assert paths.cost_csv is not None and paths.cost_csv.name == "cost.csv"
    assert paths.cost_csv in paths.files() and paths.files()[0] == paths.findings_json
    text = paths.cost_csv.read_text(encoding="utf-8")
    assert tuple(next(csv.reader(io.StringIO(text)))) == COST_CSV_COLUMNS
    raw = paths.cost_csv.read_bytes()
    assert raw.endswith(b"\r\n") and not raw.startswith(b"\xef\xbb\xbf")  # CRLF, no BOM
    rows = read_csv(text)
    items = [r for r in rows if r["row"] == "item"]
    totals = {(r["currency"], r["name"]): Decimal(r["estimated_cost_per_month"]) for r in rows if r["row"] == "total"}
    assert [r["row"] for r in rows] == ["item"] * len(items) + ["total"] * 10  # USD then EUR totals

    want = expected(result)
    usd_items = [r for r in items if r["currency"] == "USD"]
    assert len(usd_items) == want["items"] == 8  # the disk two rules flag is one row
    assert sum(Decimal(r["estimated_cost_per_month"]) for r in usd_items) == totals[("USD", "all items")] == want["all"]
    assert sum(Decimal(r["estimated_cost_per_month"]) for r in usd_items if r["status"] == "FAIL") == want["found"]
    assert totals[("USD", "waste found")] == want["found"] == Decimal("54.32")
    confirmed = [Decimal(r["estimated_cost_per_month"]) for r in usd_items if r["confirmed"] == "yes"]
    assert sum(confirmed) == want["reclaimed"]
    assert totals[("USD", "waste reclaimed")] == want["reclaimed"] == Decimal("30.38")
    assert sum(Decimal(r["estimated_cost_per_month"]) for r in usd_items if r["status"] == "HELD") == want["held"]
    assert totals[("USD", "waste held")] == want["held"] == Decimal("3.67")
    assert totals[("EUR", "all items")] == totals[("EUR", "waste found")] == Decimal("9.99")  # never added to USD

    costs = [Decimal(r["estimated_cost_per_month"]) for r in usd_items]
    assert costs == sorted(costs, reverse=True)  # most expensive first
    by_name = {r["name"]: r for r in items}
    vm = by_name["vm-qa-1"]
    assert (vm["subscription"], vm["resource_group"], vm["type"]) == (SUB_A, "rg-qa", "virtualMachines")
    assert (vm["version"], vm["stage"], vm["rule"], vm["size_sku"]) == ("v0.0.1", "qa", "L4", "vm_size=Standard_B2s")
    assert (vm["action"], vm["action_outcome"], vm["confirmed"]) == ("delete_resource", "done", "yes")
    disk = by_name["disk-qa-1"]
    assert disk["rule"] == "L4,O1" and disk["size_sku"] == "sku=Premium_LRS disk_size_gb=128"
    assert (disk["action"], disk["confirmed"]) == ("mark", "no")
    nic = by_name["nic-uat-1"]
    assert (nic["action"], nic["action_outcome"], nic["confirmed"]) == ("delete_resource", "unconfirmed", "no")
    assert by_name["disk-orphan"]["version"] == "" and by_name["disk-orphan"]["action"] == ""
    blob_row = by_name["release-artifacts/v0.0.1/qa/report.xml"]
    assert (blob_row["subscription"], blob_row["scope"], blob_row["type"]) == ("", "releaseartifacts", "blob")
    assert blob_row["size_sku"] == "tier=Hot size_bytes=4096" and blob_row["confirmed"] == "yes"
    assert by_name["'" + HOSTILE]["estimated_cost_per_month"] == "1.28"  # formula neutralised
    assert "v0-0-1-qa-gh-sa" not in text and "storage_account" not in text  # no cost, no row
    for row in rows:
        assert not any(v.startswith(("=", "+", "-", "@")) for v in row.values()), row


def test_cost_csv_is_deterministic(result: RunResult) -> None:
    shuffled = replace(result, findings=tuple(reversed(result.findings)), actions=tuple(reversed(result.actions)))
    assert render_cost_csv(shuffled) == render_cost_csv(result)


def test_an_unpriced_run_writes_no_cost_csv_and_zero_costs(result: RunResult, tmp_path: Path) -> None:
    unpriced = replace(result, findings=tuple(replace(f, cost=None) for f in result.findings), price_table=None)
    paths = write_reports(unpriced, tmp_path)
    assert paths.cost_csv is None and len(paths.files()) == 5
    assert not (paths.directory / "cost.csv").exists()
    costs = json.loads(paths.findings_json.read_text())["costs"]
    assert costs["currency"] is None and costs["price_table"] is None
    assert (costs["found"], costs["reclaimed"], costs["held"], costs["items"]) == ("0.00", "0.00", "0.00", 0)
    assert "Finance" not in paths.summary_md.read_text() and 'id="costs"' not in paths.report_html.read_text()


def test_a_priced_run_with_nothing_found_still_reports_zero_totals(result: RunResult, tmp_path: Path) -> None:
    nothing = replace(result, findings=(), actions=())
    paths = write_reports(nothing, tmp_path)
    assert paths.cost_csv is not None
    rows = read_csv(paths.cost_csv.read_text())
    assert [(r["row"], r["name"], r["estimated_cost_per_month"]) for r in rows] == [
        ("total", "waste found", "0.00"),
        ("total", "waste reclaimed", "0.00"),
        ("total", "waste held", "0.00"),
        ("total", "needs a decision", "0.00"),
        ("total", "all items", "0.00"),
    ]
    assert "No resource with a cost was found." in paths.summary_md.read_text()


# -- findings.json ---------------------------------------------------------------------------------


def test_findings_json_costs_sums(result: RunResult, tmp_path: Path) -> None:
    doc = json.loads(write_reports(result, tmp_path).findings_json.read_text(encoding="utf-8"))
    costs = doc["costs"]
    want = expected(result)
    assert {"currency", "found", "reclaimed", "held", "by_rule", "by_stage", "by_version", "by_type"} <= costs.keys()
    assert {"by_subscription", "price_table"} <= costs.keys()
    assert costs["currency"] == "USD"
    assert Decimal(costs["found"]) == want["found"]
    assert Decimal(costs["reclaimed"]) == want["reclaimed"]
    assert Decimal(costs["held"]) == want["held"]
    assert costs["price_table"] == {
        "source": PRICES.source,
        "retrieved": "2026-11-26",
        "region": "eastus",
        "currency": "USD",
    }
    assert costs["other_currencies"] == {
        "EUR": {"found": "9.99", "reclaimed": "0.00", "held": "0.00", "needs_decision": "0.00", "items": 1}
    }

    for group in ("by_rule", "by_stage", "by_version", "by_type", "by_subscription"):
        buckets = costs[group].values()
        for field in ("found", "reclaimed", "held"):
            assert sum(Decimal(b[field]) for b in buckets) == Decimal(costs[field]), (group, field)
        assert sum(b["items"] for b in buckets) == costs["items"] == 8
    assert list(costs["by_stage"]) == ["qa", "uat", "(none)"]  # pipeline order
    assert list(costs["by_version"]) == ["v0.0.10", "v0.0.1", "(none)"]  # newest first
    assert costs["by_subscription"][SUB_A] == {
        "found": "47.27",
        "reclaimed": "30.37",
        "held": "0.00",
        "needs_decision": "0.00",
        "items": 2,
    }
    assert costs["by_subscription"]["releaseartifacts"]["held"] == "0.02"  # a blob's scope: its storage account
    assert costs["by_rule"]["L4"]["found"] == "48.56" and costs["by_rule"]["O1"]["found"] == "5.76"

    priced = [f for f in doc["findings"] if f["cost"] is not None]
    assert len(priced) == sum(1 for f in result.findings if f.cost is not None)
    vm = next(f for f in doc["findings"] if f["subject"]["provider_name"] == "vm-qa-1")
    assert vm["cost"] == {"monthly": "30.37", "currency": "USD", "basis": "test"}
    assert all("cost" in f for f in doc["findings"])


# -- summary.md ------------------------------------------------------------------------------------


def test_summary_md_has_a_finance_summary_at_the_top(result: RunResult) -> None:
    text = render_markdown(result)
    lines = text.splitlines()
    assert lines[0].startswith("## ❌ FAIL")
    assert lines[2] == "### 💰 Finance summary: estimated cost per month (USD)"
    assert text.index("Finance summary") < text.index("Run `")  # before everything else
    assert lines[6] == (
        "| 54.32 USD/month (651.84 USD/year) | 30.38 USD/month (364.56 USD/year) | 3.67 USD/month (44.04 USD/year) "
        "| 0.00 USD/month (0.00 USD/year) |"
    )
    top = lines[lines.index("Top 5 most expensive items:") + 4 :][:5]
    assert [line.split("|")[2].strip() for line in top] == [
        "`vm-qa-1`",
        "`disk-qa-1`",
        "`disk-orphan`",
        "`pip-uat-1`",
        f"`{HOSTILE}`",
    ]
    assert "(reclaimed)" in top[0] and "30.37 USD/month" in top[0]
    assert "retrieved 2026-11-26, region eastus" in text
    tables: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) == 2 + 3  # finance totals, top items; then counts, failing findings, actions
    for table in tables:
        assert len({unescaped_pipes(row) for row in table}) == 1, table


def test_summary_md_of_an_unpriced_run_is_unchanged(result: RunResult) -> None:
    unpriced = replace(result, findings=tuple(replace(f, cost=None) for f in result.findings), price_table=None)
    lines = render_markdown(unpriced).splitlines()
    assert lines[2].startswith("Run `")  # verdict, blank, run line: the usual layout
    assert "Finance" not in "\n".join(lines)


# -- report.html -----------------------------------------------------------------------------------


def test_html_cost_section_is_inline_svg_and_self_contained(result: RunResult) -> None:
    html = render_html(result)
    for pattern in EXTERNAL_REFERENCE:
        assert not pattern.search(html), pattern.pattern
    assert 'id="costs"' in html
    charts = sorted(re.findall(r'<svg [^>]*data-chart="([a-z]+)"', html))
    assert charts == ["stage", "subscription", "trend", "type", "version"]
    assert 'data-total="found" data-value="54.32" data-annual="651.84"' in html
    assert "HYPERLINK(&#34;https://evil.example&#34;" in html  # escaped text, not markup


@pytest.mark.chromium
def test_cost_charts_render_in_headless_chromium(result: RunResult, tmp_path: Path) -> None:
    binary = find_chromium()
    paths = write_reports(result, tmp_path / "reports")
    done = chromium(binary, tmp_path / "profile", "--dump-dom", paths.report_html.as_uri())
    dom = DomCollector()
    dom.feed(done.stdout)
    doc = json.loads(paths.findings_json.read_text())["costs"]

    assert dom.having("section", id="costs")
    totals = {a["data-total"]: a["data-value"] for a in dom.having("div") if "data-total" in a}
    assert totals == {k: doc[k] for k in ("found", "reclaimed", "held", "needs_decision")}

    charts = [a["data-chart"] for a in dom.having("svg") if "data-chart" in a]
    assert charts == ["stage", "version", "type", "subscription", "trend"]
    # every bar of a chart is in the DOM with its figures; each chart adds up to the totals
    bars_by_chart: dict[str, list[dict[str, str]]] = {}
    current = ""
    for tag, attrs in dom.elements:
        if tag == "svg" and "data-chart" in attrs:
            current = attrs["data-chart"] if attrs["data-chart"] != "trend" else ""
        elif tag == "g" and "cost-bar" in attrs.get("class", "").split():
            bars_by_chart.setdefault(current, []).append(attrs)
    group = {"stage": "by_stage", "version": "by_version", "type": "by_type", "subscription": "by_subscription"}
    for chart, bars in bars_by_chart.items():
        assert [b["data-key"] for b in bars] == list(doc[group[chart]]), chart
        for field in ("found", "reclaimed", "held"):
            assert sum(Decimal(b[f"data-{field}"]) for b in bars) == Decimal(doc[field]), (chart, field)
    assert set(bars_by_chart) == set(group)
    segments = [a for a in dom.having("rect") if a.get("data-series") in ("reclaimed", "open", "held", "decision")]
    assert {s["data-series"] for s in segments} == {"reclaimed", "open", "held"}
    assert all(float(s["width"]) > 0 for s in segments)
    widest = max(float(s["x"]) + float(s["width"]) for s in segments)
    assert widest <= 640  # inside the chart

    items = [a for a in dom.having("tr") if "data-cost" in a]
    assert [a["data-name"] for a in items][:2] == ["vm-qa-1", "disk-qa-1"]
    assert items[0]["data-confirmed"] == "yes"
    assert not dom.having("script") and not dom.having("img")


@pytest.mark.chromium
def test_cost_section_screenshot_renders(result: RunResult, tmp_path: Path) -> None:
    assert_screenshot_renders(result, tmp_path, "1400,2400")
