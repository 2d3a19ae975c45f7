"""Run reports: the views of one `RunResult` written to `reports/<date>/<run-id>/`.

- `findings.json`: canonical document, a contract (`json_report`)
- `findings.csv`: one row per finding, formula-injection safe (`csv_report`)
- `summary.md`: short Markdown for PR comments and step summaries (`markdown_report`)
- `report.html`: one self-contained page with a version x stage x provider matrix (`html_report`)
- `junit.xml`: findings as test results for CI (`junit_report`)
- `cost.csv`: for a priced run (the reaper ran), one row per resource with its estimated cost per
  month and per year, then the totals, for finance (`cost_report`, figures from `costs`); the same
  sums are in findings.json's `costs`, a finance summary tops `summary.md`, and `report.html` has
  charts (and the trend of found and reclaimed per day over earlier runs: `trend`)
- `findings.sarif`: SARIF 2.1.0 for GitHub code scanning (`sarif_report`)
- `findings.ocsf.json`: OCSF Detection Findings, as Prowler emits them (`ocsf_report`)

`write_reports(result, reports_dir, formats=...)` renders the selected formats (`formats`; the
default set unless told) and writes each atomically. Reports only render what the model carries
(the run's own findings, and `RunResult.context`: labels, rules and earlier runs' cost totals,
handed in by the run); the model carries no secrets. This package imports `model` only.
"""

from __future__ import annotations

from .cost_report import COST_CSV_COLUMNS, render_cost_csv
from .costs import CostSummary, cost_summary, costs_document, has_costs
from .csv_report import CSV_COLUMNS, render_csv
from .formats import DEFAULT_FORMATS, REPORT_FORMATS, parse_formats
from .html_report import render_html
from .json_report import SCHEMA_VERSION, build_document, render_json
from .junit_report import render_junit
from .markdown_report import render_markdown
from .ocsf_report import build_ocsf, render_ocsf
from .sarif_report import build_sarif, render_sarif
from .trend import DaySums, cost_point, per_day
from .writer import FILE_NAMES, ReportPaths, report_paths, write_reports

__all__ = [
    "COST_CSV_COLUMNS",
    "CSV_COLUMNS",
    "DEFAULT_FORMATS",
    "FILE_NAMES",
    "REPORT_FORMATS",
    "SCHEMA_VERSION",
    "CostSummary",
    "DaySums",
    "ReportPaths",
    "build_document",
    "build_ocsf",
    "build_sarif",
    "cost_point",
    "cost_summary",
    "costs_document",
    "has_costs",
    "parse_formats",
    "per_day",
    "render_cost_csv",
    "render_csv",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_ocsf",
    "render_sarif",
    "report_paths",
    "write_reports",
]
