"""`--report-formats` and `--output-directory` of `audit` and `enforce`: which report files a run writes,
and where, overriding `reports.formats` and `reports.directory` for that run only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from custodian.config import Config
from custodian.reports import REPORT_FORMATS, parse_formats

FORMATS_HELP = (
    f"report files to write, comma-separated, of {','.join(REPORT_FORMATS)} (default: reports.formats; "
    "json, the canonical findings.json, is always written; sarif: SARIF 2.1.0 for GitHub code scanning; "
    "ocsf: OCSF Detection Findings)"
)


def report_formats(text: str) -> tuple[str, ...]:
    """`--report-formats json,sarif` -> the formats (argparse type: an unknown name is a usage error)."""
    try:
        return parse_formats([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-formats", metavar="LIST", type=report_formats, help=FORMATS_HELP)
    parser.add_argument(
        "--output-directory",
        metavar="DIR",
        type=Path,
        help="write the reports under DIR/<date>/<run-id>/ instead of reports.directory",
    )


def with_report_options(config: Config, args: argparse.Namespace) -> Config:
    """`config` with the run's `--report-formats` and `--output-directory`, when given."""
    updates: dict[str, object] = {}
    formats = getattr(args, "report_formats", None)
    directory = getattr(args, "output_directory", None)
    if formats:
        updates["formats"] = list(formats)
    if directory is not None:
        updates["directory"] = Path(directory).expanduser().resolve()
    if not updates:
        return config
    return config.model_copy(update={"reports": config.reports.model_copy(update=updates)})
