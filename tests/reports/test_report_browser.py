"""report.html as a reader sees it, in headless Chromium: after load, the DOM shows the verdict, the cost
cards (needs a decision included, per month and per year), the holds (the ledger's and the objects
kept by their hold tag), the actions and the nav links to them; a cloud value carrying markup (a
tag value, a resource name) is text in the page and never runs. A screenshot renders too.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from custodian.model import Finding, Hold, HoldTarget, RunResult, Severity, Status
from custodian.reports import write_reports

from .test_cost_reports import STARTED, SUB_B, arm, usd
from .test_finance_reports import finance_result
from .test_reports import chromium, find_chromium

SCRIPT = "<script>alert(1)</script>"
MARKER = "<script>document.documentElement.setAttribute('data-pwned','script')</script>"
IMG = "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">"


class Page(HTMLParser):
    """Elements with their attributes, the text inside each element with an id, and all the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text = ""
        self.by_id: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if tag not in {"meta", "link", "br", "input", "img", "rect", "line"}:
            self._open.append((tag, attributes.get("id")))
            if attributes.get("id"):
                self.by_id.setdefault(attributes["id"], "")

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, _ = self._open.pop()
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        self.text += data
        for _, element_id in self._open:
            if element_id:
                self.by_id[element_id] += data

    def having(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a for t, a in self.elements if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


def hostile_result() -> RunResult:
    base = finance_result()
    named = Finding(
        "O1",
        Status.FAIL,
        Severity.LOW,
        arm(SUB_B, "rg-misc", "Microsoft.Compute/disks", SCRIPT, None, None, "disk"),
        f"unattached disk {MARKER}",
        {"tags": '{"owner": "' + IMG.replace('"', '\\"') + '", "cost-center": "' + SCRIPT + '"}'},
        "",
        usd("2.00"),
    )
    hold = Hold(
        "H-1a2b3c4d",
        HoldTarget.VERSION,
        "v0.0.1",
        f"CAB-123 {SCRIPT}",
        "alice",
        STARTED - timedelta(hours=2),
        STARTED + timedelta(days=2),
    )
    return replace(base, findings=(*base.findings, named), holds=(hold,))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Page, str, Path]:
    binary = find_chromium()
    tmp = tmp_path_factory.mktemp("browser")
    paths = write_reports(hostile_result(), tmp / "reports")
    done = chromium(binary, tmp / "profile", "--dump-dom", paths.report_html.as_uri())
    page = Page()
    page.feed(done.stdout)
    return page, done.stdout, paths.report_html


@pytest.mark.chromium
def test_the_reader_sees_verdict_costs_holds_actions_and_nav(rendered: tuple[Page, str, Path]) -> None:
    page, _dom, _path = rendered
    verdict = page.having("div", id="verdict")
    assert verdict and verdict[0]["data-status"] == "FAIL" and "FAIL" in page.by_id["verdict"]

    cards = {a["data-total"]: a for a in page.having("div") if "data-total" in a}
    assert set(cards) == {"found", "reclaimed", "held", "needs_decision"}
    assert (cards["needs_decision"]["data-value"], cards["needs_decision"]["data-annual"]) == ("280.32", "3363.84")
    costs = page.by_id["costs"]
    card = re.sub(r"\s+", " ", costs)
    assert "Needs a decision (report only)280.32 USD/month3363.84 USD/year" in card
    assert "Waste found" in costs and "56.32 USD/month" in costs  # 54.32 + the hostile disk's 2.00
    decisions = [a["data-name"] for a in page.having("tr") if "data-cost" in a and a.get("data-owner") is not None]
    assert "vm-legacy-stopped" in decisions
    assert "release-nonprod" in page.by_id["cost-decisions"] and "bob@example.com" in page.by_id["cost-decisions"]
    assert page.having("svg", id="chart-trend") and page.having("g", data_day="2026-11-24")

    holds = page.having("tr", data_hold_kind="ledger") + page.having("tr", data_hold_kind="tag")
    assert [a["data-hold-kind"] for a in holds] == ["ledger", "tag", "tag"]
    assert page.having("tr", data_hold_id="H-1a2b3c4d", data_state="active")
    assert page.having("tr", data_hold_tag="custodian-hold=INC-4711", data_state="active")
    assert "hold tag custodian-hold=INC-4711" in page.by_id["holds"]
    assert len([a for a in page.having("tr") if "data-kind" in a]) == 5
    assert "delete_resource" in page.by_id["actions"]

    links = [a["href"] for a in page.having("a") if a.get("href", "").startswith("#")]
    assert {"#holds", "#actions", "#findings", "#costs", "#matrix"} <= set(links)
    for link in links:
        assert link[1:] in page.by_id, link  # every link has its target
    nav = page.elements.index(("nav", page.having("nav", id="nav")[0]))
    assert nav < page.elements.index(("table", page.having("table", id="findings")[0]))  # at the top
    assert "Holds (3)" in page.by_id["nav"] and "Actions (5)" in page.by_id["nav"]


@pytest.mark.chromium
def test_cloud_values_with_markup_render_as_text_and_never_run(rendered: tuple[Page, str, Path]) -> None:
    page, dom, path = rendered
    assert not page.having("script") and not page.having("img")
    assert not [a for _, a in page.elements if "data-pwned" in a]  # neither payload ran (it would mark <html>)
    assert "data-pwned=" not in dom.split("<head>", 1)[0]
    assert SCRIPT in page.text and MARKER in page.text and IMG in page.text  # shown, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in path.read_text(encoding="utf-8")
    cells = [a for a in page.having("tr") if a.get("data-name") == SCRIPT]
    assert cells, "the hostile resource name is a cost row's name, verbatim"
    assert [a for a in page.having("tr") if a.get("data-cost-center") == SCRIPT]


@pytest.mark.chromium
def test_finance_report_screenshot_renders(tmp_path: Path) -> None:
    binary = find_chromium()
    paths = write_reports(hostile_result(), tmp_path / "reports")
    png = tmp_path / "report.png"
    chromium(binary, tmp_path / "profile", f"--screenshot={png}", "--window-size=1400,3000", paths.report_html.as_uri())
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


@pytest.mark.chromium
def test_the_payload_check_would_see_a_script_that_ran(tmp_path: Path) -> None:
    """A control: the same payload, unescaped in a page without our CSP, runs and marks <html>."""
    binary = find_chromium()
    page_file = tmp_path / "control.html"
    page_file.write_text(f"<!DOCTYPE html><html><head></head><body>{MARKER}</body></html>", encoding="utf-8")
    done = chromium(binary, tmp_path / "profile", "--dump-dom", page_file.as_uri())
    page = Page()
    page.feed(done.stdout)
    assert page.having("html")[0].get("data-pwned") == "script"
