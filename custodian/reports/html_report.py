"""`report.html`: one self-contained page (inline CSS, no scripts, no external references).

Rendered from the Jinja2 template `templates/report.html.j2` shipped in this package (see
`reports/templates/README.md` at the project root), with autoescaping on for everything. A
Content-Security-Policy meta tag (`default-src 'none'`) makes the browser refuse any external
load even if one slipped in.

Hooks that tests and people can rely on:

- the status matrix `#matrix`: one row per version (`tr[data-version]`), one column per stage;
  each cell holds one `.mcell` per provider with `data-version`, `data-stage`, `data-provider`
  and `data-status` (the worst status of that version, stage and provider; `NONE` when there is
  no finding) and `data-count`; its id is `m-<version>-<stage>-<provider>`;
- `#findings`: one `tr[data-rule][data-status]` per finding (report order), also carrying
  `data-severity`, `data-provider`, `data-version` and `data-stage`;
- `nav#nav`: links to the sections (`a[href="#holds"]`, `a[href="#actions"]`, ...), at the top;
- `#holds`: the ledger's holds (`tr[data-hold-kind="ledger"][data-hold-id][data-state]`), then the
  objects kept by their hold tag (`tr[data-hold-kind="tag"][data-hold-tag][data-state="active"]`);
  `#actions` (`tr[data-kind][data-outcome]`);
- `#costs`, for a priced run only (see `custodian.reports.costs.has_costs`): the totals
  (`[data-total="found"|"reclaimed"|"held"|"needs_decision"]` with `data-value` (per month),
  `data-annual` (per year) and `data-currency`), what needs a decision in `#cost-decisions`
  (`tr[data-name][data-cost]`), four inline SVG bar charts
  `svg[data-chart="stage"|"version"|"type"|"subscription"]`, each bar a `g.cost-bar` with
  `data-key`, `data-found`, `data-reclaimed`, `data-held`, `data-needs-decision`, `data-items`
  and its segments `rect[data-series="reclaimed"|"open"|"held"|"decision"][data-value]` (open =
  found and not reclaimed), the trend `svg[data-chart="trend"]` (one `g.trend-day` per day with
  `data-day`, `data-runs`, `data-found`, `data-reclaimed`, `data-held`, `data-needs-decision`;
  bars `rect[data-series="found"|"reclaimed"]`; see `custodian.reports.trend`), and the most
  expensive items in `#cost-items` (`tr[data-name][data-cost]`, with subscription name, owner and
  cost centre). Amounts are decimal strings in the run's currency.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jinja2

from custodian.model import Finding, Provider, RunMode, RunResult, Status

from .common import (
    STATUS_ORDER,
    hold_state,
    human_utc,
    iso_utc,
    ordered_counts,
    sorted_actions,
    sorted_findings,
    sorted_holds,
    status_rank,
    subject_label,
    tag_holds,
    trigger_text,
    verdict,
    worst_status,
)
from .costs import cost_summary, has_costs, money
from .html_costs import build_costs

TEMPLATE_NAME = "report.html.j2"

STATUS_TITLE: dict[Status, str] = {
    Status.FAIL: "policy violated",
    Status.ERROR: "could not be checked",
    Status.WARN: "needs attention",
    Status.HELD: "protected by a hold",
    Status.FIXED: "fixed by this run (its own confirmed actions)",
    Status.PASS: "compliant",
}


@dataclass(frozen=True)
class CountView:
    status: str
    count: int
    percent: float


@dataclass(frozen=True)
class MatrixCell:
    version: str
    stage: str
    provider: str
    status: str  # a Status value, or "NONE"
    count: int
    title: str

    @property
    def element_id(self) -> str:
        return f"m-{self.version}-{self.stage}-{self.provider}"


@dataclass(frozen=True)
class MatrixRow:
    version: str
    cells: tuple[tuple[str, tuple[MatrixCell, ...]], ...]  # (stage, one cell per provider)


@dataclass(frozen=True)
class Matrix:
    stages: tuple[str, ...]
    providers: tuple[str, ...]
    rows: tuple[MatrixRow, ...]
    unplaced: int  # findings without a version or a stage: not in the matrix


@dataclass(frozen=True)
class FindingView:
    rule: str
    status: str
    severity: str
    provider: str
    kind: str
    provider_name: str
    logical_name: str
    version: str
    stage: str
    resource_id: str
    scope: str
    message: str
    remediation: str
    evidence: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HoldView:
    hold_id: str
    target_type: str
    target: str
    reason: str
    placed_by: str
    placed_at: str
    until: str
    released: str
    state: str


@dataclass(frozen=True)
class TagHoldView:
    tag: str
    subject: str
    kind: str
    name: str
    resource_id: str
    rules: str
    cost: str
    currency: str


@dataclass(frozen=True)
class ActionView:
    at: str
    kind: str
    key: str
    subject: str
    rule: str
    outcome: str
    reason: str
    detail: str


def version_sort_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Natural order (`v0.0.10` after `v0.0.9`); compares numbers as numbers."""
    return tuple((0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk) for chunk in re.findall(r"\d+|\D+", version))


def build_matrix(result: RunResult) -> Matrix:
    """Worst status per (version, stage, provider); versions newest first, stages in pipeline order."""
    grouped: dict[tuple[str, str, str], list[Status]] = {}
    unplaced = 0
    for finding in result.findings:
        subject = finding.subject
        if subject.version is None or subject.stage is None:
            unplaced += 1
            continue
        grouped.setdefault((subject.version, subject.stage, subject.provider), []).append(finding.status)

    seen_stages = {stage for _, stage, _ in grouped}
    stages = tuple(result.stages) + tuple(sorted(seen_stages - set(result.stages)))
    known_providers = tuple(p.value for p in Provider)
    seen_providers = {provider for _, _, provider in grouped}
    providers = known_providers + tuple(sorted(seen_providers - set(known_providers)))
    versions = sorted({version for version, _, _ in grouped}, key=version_sort_key, reverse=True)

    rows = []
    for version in versions:
        cells = []
        for stage in stages:
            per_provider = []
            for provider in providers:
                statuses = grouped.get((version, stage, provider), [])
                worst = worst_status(statuses)
                if worst is None:
                    title = f"{version} {stage} {provider}: no findings"
                else:
                    tally = ", ".join(f"{statuses.count(s)} {s.value}" for s in sorted(set(statuses), key=status_rank))
                    title = f"{version} {stage} {provider}: {tally}"
                per_provider.append(
                    MatrixCell(
                        version=version,
                        stage=stage,
                        provider=provider,
                        status=worst.value if worst else "NONE",
                        count=len(statuses),
                        title=title,
                    )
                )
            cells.append((stage, tuple(per_provider)))
        rows.append(MatrixRow(version=version, cells=tuple(cells)))
    return Matrix(stages=stages, providers=providers, rows=tuple(rows), unplaced=unplaced)


def _finding_view(finding: Finding) -> FindingView:
    subject = finding.subject
    return FindingView(
        rule=finding.rule,
        status=finding.status.value,
        severity=finding.severity.value,
        provider=subject.provider,
        kind=subject.kind,
        provider_name=subject.provider_name,
        logical_name=subject.logical_name or "",
        version=subject.version or "",
        stage=subject.stage or "",
        resource_id=subject.resource_id or "",
        scope=subject.scope or "",
        message=finding.message,
        remediation=finding.remediation,
        evidence=tuple((key, "" if value is None else value) for key, value in sorted(finding.evidence.items())),
    )


def build_context(result: RunResult) -> dict[str, object]:
    """Everything the template needs, as plain values (the template does no logic of its own)."""
    run = result.run
    counts = ordered_counts(result)
    total = sum(counts.values())
    status = verdict(result)
    if run.mode is RunMode.AUDIT:
        mode_text = "audit (read-only)"
    else:
        mode_text = "enforce (applied)" if run.applied else "enforce (dry run)"
    return {
        "run": {
            "id": run.run_id,
            "mode": run.mode.value,
            "mode_text": mode_text,
            "applied": run.applied,
            "started": human_utc(run.started_at),
            "started_iso": iso_utc(run.started_at),
            "finished": human_utc(run.finished_at) if run.finished_at else "not finished",
            "as_of": human_utc(run.as_of) if run.as_of else "",
            "trigger_kind": run.trigger_kind,
            "trigger_text": trigger_text(run),
            "config_digest": run.config_digest,
            "tool_version": run.tool_version,
        },
        "verdict": "INCOMPLETE" if result.incomplete else status.value,
        "verdict_title": (
            "incomplete: "
            + "; ".join(result.incomplete[:3])
            + (f" (+{len(result.incomplete) - 3} more)" if len(result.incomplete) > 3 else "")
            if result.incomplete
            else STATUS_TITLE[status]
        )
        + (f" · FORECAST at {human_utc(run.as_of)}: what would be due then" if run.as_of else ""),
        "total": total,
        "counts": [
            CountView(s.value, counts[s.value], 100.0 * counts[s.value] / total if total else 0.0) for s in STATUS_ORDER
        ],
        "statuses": [s.value for s in STATUS_ORDER],
        "status_titles": {s.value: STATUS_TITLE[s] for s in STATUS_ORDER},
        "matrix": build_matrix(result),
        "costs": build_costs(result, cost_summary(result)) if has_costs(result) else None,
        "tag_holds": [
            TagHoldView(
                tag=t.tag,
                subject=subject_label(t.subject),
                kind=t.subject.kind,
                name=t.subject.provider_name,
                resource_id=t.subject.resource_id or "",
                rules=", ".join(t.rules),
                cost=money(t.cost.monthly) if t.cost else "",
                currency=t.cost.currency if t.cost else "",
            )
            for t in tag_holds(result)
        ],
        "findings": [_finding_view(f) for f in sorted_findings(result)],
        "holds": [
            HoldView(
                hold_id=h.hold_id,
                target_type=h.target_type.value,
                target=h.target,
                reason=h.reason,
                placed_by=h.placed_by,
                placed_at=human_utc(h.placed_at),
                until=human_utc(h.until),
                released=(
                    f"{human_utc(h.released_at)} by {h.released_by or 'unknown'}"
                    + (f": {h.release_reason}" if h.release_reason else "")
                    if h.released_at
                    else ""
                ),
                state=hold_state(h, run),
            )
            for h in sorted_holds(result)
        ],
        "actions": [
            ActionView(
                at=human_utc(a.at),
                kind=a.action.kind.value,
                key=a.action.key,
                subject=subject_label(a.action.subject),
                rule=a.action.rule,
                outcome=a.outcome.value,
                reason=a.action.reason,
                detail=a.detail,
            )
            for a in sorted_actions(result)
        ],
    }


@functools.cache
def environment(template_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment: autoescape always on; `template_dir` (if given) overrides the package's templates."""
    package = jinja2.PackageLoader("custodian.reports", "templates")
    loader: jinja2.BaseLoader = (
        package if template_dir is None else jinja2.ChoiceLoader([jinja2.FileSystemLoader(template_dir), package])
    )
    return jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def stream_html(result: RunResult, *, template_dir: Path | None = None) -> Iterator[str]:
    """`report.html` a piece at a time, as the template renders it (never one string)."""
    return environment(template_dir).get_template(TEMPLATE_NAME).generate(build_context(result))


def render_html(result: RunResult, *, template_dir: Path | None = None) -> str:
    """`report.html` as text."""
    return "".join(stream_html(result, template_dir=template_dir))
