"""The report formats a run can write, by the names `reports.formats` and `--report-formats` use.

`json` (findings.json) is the canonical document the others are views of: it is always written,
whether it is listed or not. `cost` (cost.csv) is written for a priced run only.
"""

from __future__ import annotations

from collections.abc import Iterable

REPORT_FORMATS: tuple[str, ...] = ("json", "csv", "md", "html", "junit", "cost", "sarif", "ocsf")
"""Every format: findings.json, findings.csv, summary.md, report.html, junit.xml, cost.csv,
findings.sarif (SARIF 2.1.0, for GitHub code scanning) and findings.ocsf.json (OCSF Detection Findings)."""

DEFAULT_FORMATS: tuple[str, ...] = ("json", "csv", "md", "html", "junit", "cost")
"""What a run writes unless told otherwise."""


def parse_formats(values: Iterable[str]) -> tuple[str, ...]:
    """Known format names in `REPORT_FORMATS` order, `json` always among them (ValueError naming any unknown)."""
    names = [part.strip().lower() for value in values for part in value.split(",") if part.strip()]
    unknown = sorted(set(names) - set(REPORT_FORMATS))
    if unknown:
        raise ValueError(f"unknown report format(s) {', '.join(unknown)}; known: {', '.join(REPORT_FORMATS)}")
    chosen = {"json", *names}
    return tuple(name for name in REPORT_FORMATS if name in chosen)
