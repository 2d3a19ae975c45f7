"""The `reports` section: where reports go, which formats are written, and what finance reports label.

- `directory`: where `<date>/<run-id>/` directories are written (relative to the config file);
- `formats`: the formats written (`custodian.reports.formats`; findings.json always is);
- `owner_tag_keys`, `cost_center_tag_keys`: the resource tags that name an owner and a cost centre in
  the cost tables and cost.csv (the first key present wins; Azure tag keys are case-insensitive);
- `trend_runs`: how many earlier runs the trend chart of report.html reads from the ledger;
- `sarif_artifact`: the repository-relative file every SARIF result is anchored to (GitHub code
  scanning needs a file; the cloud object is the result's logical location);
- `keep`: report retention, `{runs: 50, max_age: 30d}` by default: after each run that writes
  reports, run directories beyond the newest `runs` or older than `max_age` are pruned (never the
  current one; only directories this tool wrote: `custodian.reports.retention`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from custodian.config.values import Span, Strict, WritableDirectory
from custodian.reports.formats import DEFAULT_FORMATS, REPORT_FORMATS, parse_formats
from custodian.reports.retention import DEFAULT_KEEP_RUNS, DEFAULT_MAX_AGE, Retention


class KeepConfig(Strict):
    """`reports.keep`: how many run report directories to keep, and for how long (both apply)."""

    runs: int = Field(
        default=DEFAULT_KEEP_RUNS,
        ge=1,
        le=1_000_000,
        strict=True,
        description="run report directories kept, newest first (the current run's always is)",
    )
    max_age: Span = Field(
        default=DEFAULT_MAX_AGE, description="run report directories older than this are pruned (e.g. 30d)"
    )

    def retention(self) -> Retention:
        return Retention(runs=self.runs, max_age=self.max_age)


class ReportsConfig(Strict):
    directory: WritableDirectory = Field(
        default=Path("reports"), description="where reports are written: an existing directory, or one it can create"
    )
    formats: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FORMATS),
        description=f"report formats to write, of {', '.join(REPORT_FORMATS)} (json is always written)",
    )
    owner_tag_keys: list[str] = Field(
        default_factory=lambda: ["owner", "created-by"], description="tags naming a resource's owner, first wins"
    )
    cost_center_tag_keys: list[str] = Field(
        default_factory=lambda: ["cost-center", "costcenter"], description="tags naming its cost centre, first wins"
    )
    trend_runs: int = Field(default=60, ge=1, le=1000, description="earlier runs the report.html cost trend shows")
    sarif_artifact: str = Field(
        default="release-custodian.yaml",
        min_length=1,
        description="repository-relative file SARIF results are anchored to (GitHub code scanning needs one)",
    )
    keep: KeepConfig = Field(
        default_factory=KeepConfig, description="report retention: older run directories pruned after each run"
    )

    @field_validator("formats", mode="before")
    @classmethod
    def _formats(cls, value: object) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of format names")
        return list(parse_formats(value))

    @field_validator("owner_tag_keys", "cost_center_tag_keys")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        cleaned = [key.strip() for key in keys]
        if any(not key for key in cleaned):
            raise ValueError("tag keys must not be empty")
        return cleaned
