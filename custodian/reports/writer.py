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

Each run directory holds the marker `.release-custodian-run` (`retention`); with `keep`, the run
directories beyond it are pruned once the run's own are written (`ReportPaths.pruned`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from custodian.model import RunResult
from custodian.private_files import make_private_dirs

from .common import commit_staged, run_directory, stage_chunks
from .cost_report import render_cost_csv
from .costs import has_costs
from .csv_report import stream_csv
from .formats import DEFAULT_FORMATS, parse_formats
from .html_report import stream_html
from .json_report import iter_json, json_list_chunks, stream_json
from .junit_report import render_junit
from .markdown_report import render_markdown
from .ocsf_report import ocsf_events
from .retention import Retention, prune_reports, write_marker
from .sarif_report import build_sarif

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
    pruned: tuple[Path, ...] = ()  # older run directories removed by `reports.keep` after this run wrote
    prune_error: str | None = None  # why pruning stopped (the run's reports are written all the same)

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

    def pruned_summary(self) -> str:
        """For the run output: how many older run report directories `reports.keep` pruned."""
        count = len(self.pruned)
        text = f"{count} older run report director{'y' if count == 1 else 'ies'} (reports.keep)"
        return f"{text}; pruning stopped: {self.prune_error}" if self.prune_error else text


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
    keep: Retention | None = None,
) -> ReportPaths:
    """Render `result` in the selected formats and write the files atomically; returns their paths.

    Each format is streamed to a temp file beside its target, one after the other, and only once
    every one is staged are they renamed into place: a rendering error leaves no new files.
    `template_dir` overrides the packaged HTML template (a directory holding `report.html.j2`).
    Unknown format names raise ValueError. With `keep`, older run directories are pruned afterwards
    (ages against the run's finish time, else its start).
    """
    paths = report_paths(result, reports_dir, formats)
    renderers: dict[str, Callable[[], Iterable[str | bytes]]] = {
        "csv": lambda: stream_csv(result),
        "md": lambda: [render_markdown(result)],
        "html": lambda: stream_html(result, template_dir=template_dir),
        "junit": lambda: [render_junit(result)],
        "cost": lambda: [render_cost_csv(result)],
        "sarif": lambda: iter_json(build_sarif(result)),
        "ocsf": lambda: json_list_chunks(ocsf_events(result)),
        "json": lambda: stream_json(result),
    }
    make_private_dirs(paths.directory)  # owner-only: 0700, and each file 0600
    order = (*(f for f in paths.formats if f != "json"), "json")  # the canonical document last
    staged: dict[str, Path] = {}
    try:  # each format streamed to its temp file in turn (one in memory at a time), then all renamed
        for report_format in order:
            staged[report_format] = stage_chunks(paths.by_format[report_format], renderers[report_format]())
        write_marker(paths.directory, result.run)
        for report_format in order:
            commit_staged(staged[report_format], paths.by_format[report_format])
    except BaseException:
        for temp in staged.values():  # those not renamed yet
            temp.unlink(missing_ok=True)
        raise
    if keep is None:
        return paths
    now = result.run.finished_at or result.run.started_at
    try:
        pruned = prune_reports(reports_dir, paths.directory, keep, now, frozenset(FILE_NAMES.values()))
    except OSError as exc:  # this run's reports stand; the line of the run output says why pruning stopped
        return replace(paths, prune_error=f"{exc.strerror or exc}: {exc.filename or reports_dir}")
    return replace(paths, pruned=pruned.removed)
