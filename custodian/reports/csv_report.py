"""`findings.csv`: one row per finding, flat columns, for spreadsheets.

Columns are `CSV_COLUMNS`, in report order (see `custodian.reports.common`); `evidence` is compact
JSON with sorted keys; absent values are empty cells. UTF-8 (no BOM), RFC 4180 quoting, CRLF
line ends. Every cell that a spreadsheet would read as a formula (starting with `=`, `+`, `-`,
`@`, a tab or a carriage return) gets a leading apostrophe: CSV injection is neutralised.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator

from custodian.model import Finding, RunResult

from .common import sorted_findings

CSV_COLUMNS: tuple[str, ...] = (
    "rule",
    "status",
    "severity",
    "provider",
    "kind",
    "provider_name",
    "logical_name",
    "version",
    "stage",
    "resource_id",
    "scope",
    "message",
    "remediation",
    "evidence",
)

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def guard_cell(value: str) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ (or tab/CR) gets a leading `'`."""
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def finding_row(finding: Finding) -> list[str]:
    subject = finding.subject
    evidence = json.dumps(dict(finding.evidence), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    cells = (
        finding.rule,
        finding.status.value,
        finding.severity.value,
        subject.provider,
        subject.kind,
        subject.provider_name,
        subject.logical_name or "",
        subject.version or "",
        subject.stage or "",
        subject.resource_id or "",
        subject.scope or "",
        finding.message,
        finding.remediation,
        evidence,
    )
    return [guard_cell(cell) for cell in cells]


def stream_csv(result: RunResult) -> Iterator[str]:
    """`findings.csv` a row at a time (header first)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    rows = (finding_row(finding) for finding in sorted_findings(result))
    for row in itertools.chain([CSV_COLUMNS], rows):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def render_csv(result: RunResult) -> str:
    """`findings.csv` as text (header plus one row per finding)."""
    return "".join(stream_csv(result))
