"""Finance reports: /month with annualised figures everywhere, the "needs a decision" bucket, owner and
cost-centre tags, subscription display names, tag holds, the cost trend, and format selection.

The run is `test_cost_reports.build_result()` plus a stopped VM a rule reports only (O5, WARN,
280.32 USD/month: the most expensive line, as in the seed), tags naming owners and cost centres
(one a hostile value), a disk and a blob kept by their hold tag, display names for both
subscriptions, and three earlier runs in its context (two on one day, one forecast-free run in
another currency, which the trend leaves out).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from custodian.model import (
    Cost,
    CostPoint,
    Finding,
    ReportContext,
    RunResult,
    Severity,
    Status,
)
from custodian.reports import (
    DEFAULT_FORMATS,
    REPORT_FORMATS,
    cost_point,
    costs_document,
    parse_formats,
    per_day,
    render_cost_csv,
    render_html,
    render_markdown,
    write_reports,
)
from custodian.reports.trend import run_series

from .test_cost_reports import DISK, ORPHAN, PIP, STARTED, SUB_A, SUB_B, VM, arm, blob, build_result, usd

HOSTILE_TAG = "<script>alert(1)</script>"
STOPPED = arm(
    SUB_A, "rg-shared", "Microsoft.Compute/virtualMachines", "vm-legacy-stopped", None, None, "virtualMachine"
)
HELD_DISK = arm(SUB_A, "rg-shared", "Microsoft.Compute/disks", "disk-forensics", None, None, "disk")
HELD_BLOB = blob("ci-scratch/tmp/core.dump", None, None)  # the base run's held blob, now with its hold tag
NAMES = {SUB_A.lower(): "release-nonprod", SUB_B.lower(): "release-prod <b>"}


def tags(**values: str) -> str:
    return json.dumps({k.replace("_", "-"): v for k, v in values.items()}, sort_keys=True)


def point(run_id: str, hours_before: float, found: str, reclaimed: str, currency: str = "USD") -> CostPoint:
    return CostPoint(
        run_id,
        STARTED - timedelta(hours=hours_before),
        "enforce",
        True,
        currency,
        Decimal(found),
        Decimal(reclaimed),
        Decimal("1.00"),
        Decimal("280.32"),
    )


def finance_result() -> RunResult:
    base = build_result()
    tagged = []
    for finding in base.findings:
        if finding.subject == VM:
            finding = replace(finding, evidence={**finding.evidence, "tags": tags(owner="alice", cost_center="CC-42")})
        elif finding.subject == DISK:
            finding = replace(finding, evidence={**finding.evidence, "tags": tags(Owner="", created_by="ci-bot")})
        elif finding.subject == ORPHAN:
            finding = replace(finding, evidence={**finding.evidence, "tags": tags(costcenter=HOSTILE_TAG)})
        tagged.append(finding)
    stopped = Finding(
        "O5",
        Status.WARN,
        Severity.MEDIUM,
        STOPPED,
        "VM vm-legacy-stopped has been stopped but not deallocated for 21d: compute is still billed",
        {"size": "Standard_D8s_v5", "tags": tags(owner="bob@example.com", cost_center="CC-7")},
        "Deallocate or delete it yourself: deleting a stopped VM is a human decision.",
        usd("280.32"),
    )
    held = Finding(
        "O1",
        Status.HELD,
        Severity.LOW,
        HELD_DISK,
        "unattached disk; held (the hold tag custodian-hold='INC-4711')",
        {"hold": "custodian-hold=INC-4711", "sku": "Standard_LRS"},
        "",
        usd("11.52"),
    )
    held_blob = Finding(
        "O6",
        Status.HELD,
        Severity.LOW,
        HELD_BLOB,
        "stale blob; held",
        {"hold": f"custodian-hold={HOSTILE_TAG}"},
        "",
        usd("0.02"),
    )
    history = (
        point("r-old-1", 50, "100.00", "0.00"),
        point("r-old-2", 49, "120.00", "20.00"),
        point("r-old-3", 26, "90.00", "10.00"),
        point("r-eur", 25, "9.99", "0.00", currency="EUR"),
    )
    context = ReportContext(subscription_names=NAMES, history=history)
    return replace(base, findings=(*tagged, stopped, held, held_blob), context=context)


@pytest.fixture()
def result() -> RunResult:
    return finance_result()


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# -- the needs-a-decision bucket and /month, /year --------------------------------------------------


def test_needs_a_decision_is_totalled_and_listed_in_findings_json(result: RunResult) -> None:
    costs = costs_document(result)
    assert costs["needs_decision"] == "280.32"
    assert costs["found"] == "54.32" and costs["held"] == "15.19"  # the other buckets do not count it
    assert costs["per_year"] == {
        "found": "651.84",
        "reclaimed": "364.56",
        "held": "182.28",
        "needs_decision": "3363.84",
    }
    items = costs["needs_decision_items"]
    assert isinstance(items, list) and len(items) == 1
    assert items[0]["name"] == "vm-legacy-stopped" and items[0]["monthly"] == "280.32"
    assert items[0]["rule"] == "O5" and items[0]["subscription_name"] == "release-nonprod"
    assert (items[0]["owner"], items[0]["cost_center"]) == ("bob@example.com", "CC-7")
    assert "stopped but not deallocated" in items[0]["why"]
    by_rule = costs["by_rule"]
    assert isinstance(by_rule, dict) and by_rule["O5"]["needs_decision"] == "280.32"
    assert costs["incomplete"] is None


def test_cost_csv_says_per_month_and_per_year_with_a_needs_a_decision_total(result: RunResult) -> None:
    text = render_cost_csv(result)
    header = next(csv.reader(io.StringIO(text)))
    assert "estimated_cost_per_month" in header and "estimated_cost_per_year" in header
    assert {"subscription_name", "owner", "cost_center"} <= set(header)
    rows = read_csv(text)
    items = [r for r in rows if r["row"] == "item"]
    assert items[0]["name"] == "vm-legacy-stopped"  # the most expensive line
    assert (items[0]["estimated_cost_per_month"], items[0]["estimated_cost_per_year"]) == ("280.32", "3363.84")
    totals = {(r["currency"], r["name"]): r for r in rows if r["row"] == "total"}
    decision = totals[("USD", "needs a decision")]
    assert (decision["estimated_cost_per_month"], decision["estimated_cost_per_year"], decision["status"]) == (
        "280.32",
        "3363.84",
        "WARN",
    )
    assert totals[("USD", "waste found")]["estimated_cost_per_year"] == "651.84"
    usd_items = [r for r in items if r["currency"] == "USD"]
    assert sum(Decimal(r["estimated_cost_per_month"]) for r in usd_items if r["status"] == "WARN") == Decimal("280.32")
    assert sum(Decimal(r["estimated_cost_per_month"]) for r in usd_items) == Decimal(
        totals[("USD", "all items")]["estimated_cost_per_month"]
    )


def test_cost_rows_carry_subscription_names_owner_and_cost_centre(result: RunResult) -> None:
    rows = {r["name"]: r for r in read_csv(render_cost_csv(result)) if r["row"] == "item"}
    vm = rows["vm-qa-1"]
    assert (vm["subscription"], vm["subscription_name"]) == (SUB_A, "release-nonprod")
    assert (vm["owner"], vm["cost_center"]) == ("alice", "CC-42")
    disk = rows["disk-qa-1"]
    assert disk["owner"] == "ci-bot"  # `owner` is empty: the next configured key (created-by) wins
    assert rows["disk-orphan"]["cost_center"] == HOSTILE_TAG  # text in a CSV cell, not a formula
    assert rows[PIP.provider_name]["subscription_name"] == "release-prod <b>"
    assert rows["release-artifacts/v0.0.1/qa/report.xml"]["subscription_name"] == ""  # a blob: no subscription

    custom = replace(result, context=replace(result.context, owner_tag_keys=("created-by",), cost_center_tag_keys=()))
    rows = {r["name"]: r for r in read_csv(render_cost_csv(custom)) if r["row"] == "item"}
    assert rows["vm-qa-1"]["owner"] == "" and rows["disk-qa-1"]["owner"] == "ci-bot"
    assert rows["vm-qa-1"]["cost_center"] == ""


def test_summary_md_totals_per_month_and_year_and_what_needs_a_decision(result: RunResult) -> None:
    text = render_markdown(result)
    lines = text.splitlines()
    assert lines[2] == "### 💰 Finance summary: estimated cost per month (USD)"
    assert lines[4] == "| Waste found | Reclaimed (deleted, confirmed) | Held | Needs a decision |"
    assert "280.32 USD/month (3363.84 USD/year)" in lines[6]
    assert "54.32 USD/month (651.84 USD/year)" in lines[6]
    start = next(i for i, line in enumerate(lines) if line.startswith("**Needs a decision**: 1 report-only item"))
    table = lines[start + 2 : start + 5]
    assert table[0].startswith("| Resource | Type | Subscription | Owner · cost centre |")
    assert "`vm-legacy-stopped`" in table[2] and "release-nonprod" in table[2] and "bob@example.com · CC-7" in table[2]
    top = lines[lines.index("Top 5 most expensive items:") + 2 :][:3]
    assert top[0].endswith("| Cost /month |")
    assert "`vm-legacy-stopped`" in top[2] and "⚠️ WARN" in top[2] and "280.32 USD/month" in top[2]
    assert "`custodian-hold=<script>alert(1)</script>`" in text  # in a code span: shown as text, never HTML
    assert "<script>" not in text.replace("`custodian-hold=<script>alert(1)</script>`", "")  # escaped elsewhere
    assert "### Holds (2)" in text  # no ledger hold in this run: the two objects kept by their hold tag
    assert "hold tag `custodian-hold=INC-4711`" in text


def test_html_cards_say_month_and_year_and_list_what_needs_a_decision(result: RunResult) -> None:
    html = render_html(result)
    assert 'data-total="needs_decision" data-value="280.32" data-annual="3363.84"' in html
    assert "280.32 USD/month" in html and "3363.84 USD/year" in html
    assert 'id="cost-decisions"' in html and 'data-name="vm-legacy-stopped"' in html
    assert "release-nonprod" in html and "release-prod &lt;b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)</script>" not in html
    assert 'data-owner="alice" data-cost-center="CC-42"' in html


# -- tag holds --------------------------------------------------------------------------------------


def test_tag_holds_are_listed_beside_the_ledger_holds(result: RunResult, tmp_path: Path) -> None:
    paths = write_reports(result, tmp_path)
    document = json.loads(paths.findings_json.read_text())
    held = {t["subject"]["provider_name"]: t for t in document["tag_holds"]}
    assert set(held) == {"disk-forensics", "ci-scratch/tmp/core.dump"}
    assert held["disk-forensics"]["tag"] == "custodian-hold=INC-4711" and held["disk-forensics"]["rules"] == ["O1"]
    assert held["disk-forensics"]["cost"]["monthly"] == "11.52"
    html = paths.report_html.read_text()
    assert html.count('data-hold-kind="tag"') == 2
    assert 'data-hold-tag="custodian-hold=INC-4711"' in html
    assert "(0 in the ledger, 2 by tag)" in html
    assert '<a href="#holds">Holds (2)</a>' in html and '<a href="#actions">Actions (5)</a>' in html


# -- the trend --------------------------------------------------------------------------------------


def test_trend_per_day_found_is_the_days_most_reclaimed_its_sum(result: RunResult) -> None:
    series = run_series(result)
    assert [p.run_id for p in series] == ["r-old-1", "r-old-2", "r-old-3", result.run.run_id]  # EUR left out
    days = per_day(series)
    assert [d.day.isoformat() for d in days] == ["2026-11-24", "2026-11-25", "2026-11-26"]
    first = days[0]
    assert (first.runs, first.found, first.reclaimed) == (2, Decimal("120.00"), Decimal("20.00"))
    today = days[-1]
    assert (today.found, today.reclaimed, today.needs_decision) == (
        Decimal("54.32"),
        Decimal("30.38"),
        Decimal("280.32"),
    )

    html = render_html(result)
    assert 'data-chart="trend"' in html
    assert 'data-day="2026-11-24" data-runs="2" data-found="120.00" data-reclaimed="20.00"' in html
    assert 'data-day="2026-11-26" data-runs="1" data-found="54.32" data-reclaimed="30.38"' in html


def test_cost_points_from_stored_documents() -> None:
    document = {"currency": "USD", "found": "10.00", "reclaimed": "2.50", "held": "1", "items": 3}
    stored = cost_point("r1", STARTED, "audit", False, document)
    assert stored is not None and stored.needs_decision == Decimal(0) and stored.found == Decimal("10.00")
    assert stored.complete
    assert cost_point("r1", STARTED, "audit", False, document, forecast=True) is None
    assert cost_point("r1", STARTED, "audit", False, {"currency": None, "found": "0.00"}) is None
    assert cost_point("r1", STARTED, "audit", False, None) is None
    partial = cost_point("r1", STARTED, "audit", False, {**document, "incomplete": "incomplete: 1 scope"})
    assert partial is not None and not partial.complete


def test_a_forecast_is_no_point_of_the_trend(result: RunResult) -> None:
    forecast = replace(result, run=replace(result.run, as_of=STARTED + timedelta(days=2)))
    assert [p.run_id for p in run_series(forecast)] == ["r-old-1", "r-old-2", "r-old-3"]


# -- format selection --------------------------------------------------------------------------------


def test_formats_are_selectable_and_json_is_always_written(result: RunResult, tmp_path: Path) -> None:
    assert parse_formats(["sarif, ocsf"]) == ("json", "sarif", "ocsf")
    assert parse_formats(DEFAULT_FORMATS) == DEFAULT_FORMATS
    with pytest.raises(ValueError, match="unknown report format"):
        parse_formats(["pdf"])
    paths = write_reports(result, tmp_path / "a", formats=("sarif", "ocsf"))
    assert [p.name for p in paths.files()] == ["findings.json", "findings.sarif", "findings.ocsf.json"]
    assert sorted(p.name for p in paths.directory.iterdir()) == [
        ".release-custodian-run",  # the run directory's marker (report retention)
        "findings.json",
        "findings.ocsf.json",
        "findings.sarif",
    ]
    assert paths.main == paths.findings_json and paths.get("html") is None
    every = write_reports(result, tmp_path / "b", formats=REPORT_FORMATS)
    assert len(every.files()) == 8 and every.main == every.report_html
    unpriced = replace(result, findings=tuple(replace(f, cost=None) for f in result.findings), price_table=None)
    assert write_reports(unpriced, tmp_path / "c", formats=("cost",)).files() == (
        write_reports(unpriced, tmp_path / "c", formats=("cost",)).findings_json,
    )


def test_a_cost_in_another_currency_never_enters_the_decision_total(result: RunResult) -> None:
    euro = Finding(
        "O5",
        Status.WARN,
        Severity.MEDIUM,
        replace(STOPPED, provider_name="vm-eu"),
        "stopped",
        {},
        "",
        Cost(Decimal("50"), "EUR", "x"),
    )
    costs = costs_document(replace(result, findings=(*result.findings, euro)))
    assert costs["needs_decision"] == "280.32"
    other = costs["other_currencies"]
    assert isinstance(other, dict) and other["EUR"]["needs_decision"] == "50.00"
