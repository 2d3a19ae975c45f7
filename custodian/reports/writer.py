"""`write_reports`: render every format of a run and write them atomically to the run's directory.

Layout: `reports_dir/<YYYY-MM-DD>/<run-id>/` (the date of `run.started_at` in UTC) holding
`findings.csv`, `summary.md`, `report.html`, `junit.xml`, `cost.csv` for a priced run (one that
carries a price table or a finding with a cost: `costs.has_costs`) and, written last so that its
presence means the set is complete, the canonical `findings.json`. Each file is replaced atomically (temp
file in the same directory, fsync, `os.replace`): a reader never sees a partial file, and a
re-run of the same run id replaces the previous files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from custodian.model import RunResult

from .common import atomic_write_bytes, atomic_write_text, run_directory
from .cost_report import render_cost_csv
from .costs import has_costs
from .csv_report import render_csv
from .html_report import render_html
from .json_report import render_json
from .junit_report import render_junit
from .markdown_report import render_markdown

FINDINGS_JSON = "findings.json"
FINDINGS_CSV = "findings.csv"
SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"
JUNIT_XML = "junit.xml"
COST_CSV = "cost.csv"


@dataclass(frozen=True)
class ReportPaths:
    """Where one run's reports were written."""

    directory: Path
    findings_json: Path
    findings_csv: Path
    summary_md: Path
    report_html: Path
    junit_xml: Path
    cost_csv: Path | None = None  # only for a priced run

    @classmethod
    def for_directory(cls, directory: Path, *, with_costs: bool = False) -> ReportPaths:
        return cls(
            directory=directory,
            findings_json=directory / FINDINGS_JSON,
            findings_csv=directory / FINDINGS_CSV,
            summary_md=directory / SUMMARY_MD,
            report_html=directory / REPORT_HTML,
            junit_xml=directory / JUNIT_XML,
            cost_csv=directory / COST_CSV if with_costs else None,
        )

    def files(self) -> tuple[Path, ...]:
        """The report files, canonical JSON first (five, or six with `cost.csv`)."""
        files = (self.findings_json, self.findings_csv, self.summary_md, self.report_html, self.junit_xml)
        return files if self.cost_csv is None else (*files, self.cost_csv)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.files())


def report_paths(result: RunResult, reports_dir: Path) -> ReportPaths:
    """Where `write_reports` would write (raises ValueError for a run id unfit as a directory name)."""
    return ReportPaths.for_directory(run_directory(reports_dir, result.run), with_costs=has_costs(result))


def write_reports(result: RunResult, reports_dir: Path, *, template_dir: Path | None = None) -> ReportPaths:
    """Render `result` in every format and write the files atomically; returns their paths.

    Everything is rendered before the first write, so a rendering error leaves no new files.
    `template_dir` overrides the packaged HTML template (a directory holding `report.html.j2`).
    """
    paths = report_paths(result, reports_dir)
    rendered_text = {
        paths.findings_csv: render_csv(result),
        paths.summary_md: render_markdown(result),
        paths.report_html: render_html(result, template_dir=template_dir),
    }
    if paths.cost_csv is not None:
        rendered_text[paths.cost_csv] = render_cost_csv(result)
    junit = render_junit(result)
    canonical = render_json(result)

    paths.directory.mkdir(parents=True, exist_ok=True)
    for path, text in rendered_text.items():
        atomic_write_text(path, text)
    atomic_write_bytes(paths.junit_xml, junit)
    atomic_write_text(paths.findings_json, canonical)
    return paths
