"""Run reports: the views of one `RunResult` written to `reports/<date>/<run-id>/`.

- `findings.json`: canonical document, a contract (`json_report`)
- `findings.csv`: one row per finding, formula-injection safe (`csv_report`)
- `summary.md`: short Markdown for PR comments and step summaries (`markdown_report`)
- `report.html`: one self-contained page with a version x stage x provider matrix (`html_report`)
- `junit.xml`: findings as test results for CI (`junit_report`)
- `cost.csv`: for a priced run (the reaper ran), one row per resource with its estimated monthly
  cost, then the totals, for finance (`cost_report`, figures from `costs`); the same sums are in
  findings.json's `costs`, a finance summary tops `summary.md`, and `report.html` has charts

`write_reports(result, reports_dir)` renders all of them and writes each atomically. Reports only
render what the model carries; the model carries no secrets. This package imports `model` only.
"""

from __future__ import annotations

from .cost_report import COST_CSV_COLUMNS, render_cost_csv
from .costs import CostSummary, cost_summary, costs_document, has_costs
from .csv_report import CSV_COLUMNS, render_csv
from .html_report import render_html
from .json_report import SCHEMA_VERSION, build_document, render_json
from .junit_report import render_junit
from .markdown_report import render_markdown
from .writer import ReportPaths, report_paths, write_reports

__all__ = [
    "COST_CSV_COLUMNS",
    "CSV_COLUMNS",
    "SCHEMA_VERSION",
    "CostSummary",
    "ReportPaths",
    "build_document",
    "cost_summary",
    "costs_document",
    "has_costs",
    "render_cost_csv",
    "render_csv",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "report_paths",
    "write_reports",
]
