"""`write_reports`: render the selected formats of a run and write them atomically to the run's directory.

Layout: `reports_dir/<YYYY-MM-DD>/<run-id>/` (the date of `run.started_at` in UTC) holding, per
format (`custodian.reports.formats`; the default set unless `formats` says otherwise):
`findings.csv` (csv), `summary.md` (md), `report.html` (html), `junit.xml` (junit), `cost.csv`
(cost; for a priced run only: one that carries a price table or a finding with a cost,
`costs.has_costs`), `findings.sarif` (sarif: SARIF 2.1.0) and `findings.ocsf.json` (ocsf: OCSF
Detection Findings) and, always and written last so that its presence means the set is complete,
the canonical `findings.json`. Each file is replaced atomically (temp file in the same directory,
fsync, `os.replace`): a reader never sees a partial file, and a re-run of the same run id replaces
the previous files. Files are owner-only: 0600 in directories created 0700, whatever the umask.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from custodian.model import RunResult
from custodian.private_files import make_private_dirs

from .common import atomic_write_bytes, atomic_write_text, run_directory
from .cost_report import render_cost_csv
from .costs import has_costs
from .csv_report import render_csv
from .formats import DEFAULT_FORMATS, parse_formats
from .html_report import render_html
from .json_report import render_json
from .junit_report import render_junit
from .markdown_report import render_markdown
from .ocsf_report import render_ocsf
from .sarif_report import render_sarif

FINDINGS_JSON = "findings.json"
FINDINGS_CSV = "findings.csv"
SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"
JUNIT_XML = "junit.xml"
COST_CSV = "cost.csv"
FINDINGS_SARIF = "findings.sarif"
FINDINGS_OCSF = "findings.ocsf.json"

FILE_NAMES: dict[str, str] = {
    "json": FINDINGS_JSON,
    "csv": FINDINGS_CSV,
    "md": SUMMARY_MD,
    "html": REPORT_HTML,
    "junit": JUNIT_XML,
    "cost": COST_CSV,
    "sarif": FINDINGS_SARIF,
    "ocsf": FINDINGS_OCSF,
}


@dataclass(frozen=True)
class ReportPaths:
    """Where one run's reports go; `formats` says which were written (`files()` lists those).

    Every attribute names where its format's file is (or would be): only the formats written exist.
    """

    directory: Path
    findings_json: Path
    findings_csv: Path
    summary_md: Path
    report_html: Path
    junit_xml: Path
    cost_csv: Path | None = None  # only for a priced run with `cost` selected
    formats: tuple[str, ...] = tuple(f for f in DEFAULT_FORMATS if f != "cost")
    findings_sarif: Path | None = None
    findings_ocsf: Path | None = None
    by_format: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def for_directory(
        cls, directory: Path, *, with_costs: bool = False, formats: Collection[str] = DEFAULT_FORMATS
    ) -> ReportPaths:
        chosen = tuple(f for f in parse_formats(formats) if f != "cost" or with_costs)
        return cls(
            directory=directory,
            findings_json=directory / FINDINGS_JSON,
            findings_csv=directory / FINDINGS_CSV,
            summary_md=directory / SUMMARY_MD,
            report_html=directory / REPORT_HTML,
            junit_xml=directory / JUNIT_XML,
            cost_csv=directory / COST_CSV if "cost" in chosen else None,
            formats=chosen,
            findings_sarif=directory / FINDINGS_SARIF if "sarif" in chosen else None,
            findings_ocsf=directory / FINDINGS_OCSF if "ocsf" in chosen else None,
            by_format={f: directory / FILE_NAMES[f] for f in chosen},
        )

    def get(self, report_format: str) -> Path | None:
        """The file of `report_format` when it was written, else None."""
        return self.by_format.get(report_format)

    @property
    def main(self) -> Path:
        """What to show a person first: report.html when written, else the canonical findings.json."""
        return self.get("html") or self.findings_json

    def files(self) -> tuple[Path, ...]:
        """The files written, canonical JSON first (five by default, six with `cost.csv`)."""
        return tuple(self.by_format[f] for f in self.formats)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.files())


def report_paths(result: RunResult, reports_dir: Path, formats: Collection[str] = DEFAULT_FORMATS) -> ReportPaths:
    """Where `write_reports` would write (raises ValueError for a run id unfit as a directory name)."""
    return ReportPaths.for_directory(
        run_directory(reports_dir, result.run), with_costs=has_costs(result), formats=formats
    )


def write_reports(
    result: RunResult,
    reports_dir: Path,
    *,
    formats: Collection[str] = DEFAULT_FORMATS,
    template_dir: Path | None = None,
) -> ReportPaths:
    """Render `result` in the selected formats and write the files atomically; returns their paths.

    Everything is rendered before the first write, so a rendering error leaves no new files.
    `template_dir` overrides the packaged HTML template (a directory holding `report.html.j2`).
    Unknown format names raise ValueError.
    """
    paths = report_paths(result, reports_dir, formats)
    renderers: dict[str, Callable[[], str | bytes]] = {
        "csv": lambda: render_csv(result),
        "md": lambda: render_markdown(result),
        "html": lambda: render_html(result, template_dir=template_dir),
        "junit": lambda: render_junit(result),
        "cost": lambda: render_cost_csv(result),
        "sarif": lambda: render_sarif(result),
        "ocsf": lambda: render_ocsf(result),
        "json": lambda: render_json(result),
    }
    rendered = {f: renderers[f]() for f in paths.formats}

    make_private_dirs(paths.directory)  # owner-only: 0700, and each file 0600
    for report_format in (*(f for f in paths.formats if f != "json"), "json"):  # the canonical document last
        data = rendered[report_format]
        path = paths.by_format[report_format]
        if isinstance(data, bytes):
            atomic_write_bytes(path, data)
        else:
            atomic_write_text(path, data)
    return paths
