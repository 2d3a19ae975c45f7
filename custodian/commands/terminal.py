"""What a run prints on the terminal: its findings (with their monthly cost), its plan or what became
of each action, and a few summary lines; short enough to read, the full story is in report.html.

Tables never wrap a cell onto many lines: long text is cut with an ellipsis to fit the terminal
(`report show` and the reports hold it whole). `--quiet` prints the summary lines only.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from custodian.model import ActionOutcome, ActionRecord, Cost, Finding, RunResult, Status, Subject
from custodian.reports.costs import cost_summary, has_costs, per_year

STATUS_STYLE = {
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.WARN: "yellow",
    Status.HELD: "cyan",
    Status.FIXED: "bold green",
    Status.PASS: "green",
}
OUTCOME_STYLE = {
    ActionOutcome.DONE: "green",
    ActionOutcome.PLANNED: "cyan",
    ActionOutcome.SKIPPED: "yellow",
    ActionOutcome.UNCONFIRMED: "magenta",
    ActionOutcome.FAILED: "bold red",
    ActionOutcome.INTENT: "",
}
ORDER = [Status.FAIL, Status.ERROR, Status.WARN, Status.HELD, Status.FIXED, Status.PASS]


def where(scope: str | None) -> str:
    """A short name for a collection unit: the org of `github:acme`, the last part of an ARM id."""
    if not scope:
        return ""
    if scope.startswith(("github:", "blob:")):
        return scope.split(":", 1)[1]
    return scope.rstrip("/").rsplit("/", 1)[-1]


def money(cost: Cost | None) -> str:
    return "" if cost is None else f"{cost.monthly:,.2f} {cost.currency}/mo"


def findings_table(findings: list[Finding], *, show_pass: bool = False, limit: int = 40) -> Table:
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("status", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("subject", overflow="ellipsis", no_wrap=True, max_width=34)
    table.add_column("where", overflow="ellipsis", no_wrap=True, max_width=18)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("message", overflow="ellipsis", no_wrap=True, ratio=1)
    shown = [f for f in findings if show_pass or f.status is not Status.PASS]
    shown.sort(key=lambda f: (ORDER.index(f.status), f.rule, f.subject.provider_name))
    for finding in shown[:limit]:
        subject = finding.subject.logical_name or finding.subject.provider_name
        style = STATUS_STYLE[finding.status]
        table.add_row(
            f"[{style}]{finding.status.value}[/]",
            finding.rule,
            escape(subject),
            escape(where(finding.subject.scope)),
            money(finding.cost),
            escape(finding.message),
        )
    if len(shown) > limit:
        table.caption = f"... and {len(shown) - limit} more (see report.html, or report show)"
    return table


def _cost_of(result: RunResult) -> dict[tuple[str | None, str], Cost]:
    return {(f.subject.scope, f.subject.provider_name): f.cost for f in result.findings if f.cost is not None}


def _target(subject: Subject) -> str:
    return subject.logical_name or subject.provider_name


def actions_table(result: RunResult, *, limit: int = 40) -> Table:
    """The plan (a dry run: PLANNED) or what became of each action (applied), with the refusals."""
    costs = _cost_of(result)
    table = Table(show_header=True, header_style="bold")
    table.add_column("outcome", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("target", overflow="ellipsis", no_wrap=True, max_width=34)
    table.add_column("rule", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("why / detail", overflow="ellipsis", no_wrap=True, ratio=1)
    records: list[ActionRecord] = list(result.actions)
    for record in records[:limit]:
        subject = record.action.subject
        style = OUTCOME_STYLE.get(record.outcome, "")
        detail = record.detail if record.outcome is not ActionOutcome.PLANNED else record.action.reason
        table.add_row(
            f"[{style}]{record.outcome.value}[/]" if style else record.outcome.value,
            record.action.kind.value,
            escape(_target(subject)),
            record.action.rule,
            money(costs.get((subject.scope, subject.provider_name))),
            escape(detail),
        )
    if len(records) > limit:
        table.caption = f"... and {len(records) - limit} more (see report.html)"
    return table


def totals_line(result: RunResult) -> str:
    """Monthly cost of what was found, reclaimed, held and needs a decision (`reports.costs`' totals)."""
    if not has_costs(result):
        return ""
    summary = cost_summary(result)
    sums, currency = summary.totals, summary.currency or ""
    parts = [f"waste found {sums.found:,.2f} {currency}".rstrip() + f"/mo ({per_year(sums.found):,.2f}/yr)"]
    named = (("reclaimed", sums.reclaimed), ("held", sums.held), ("needs a decision", sums.needs_decision))
    parts += [f"{name} {amount:,.2f}/mo" for name, amount in named if amount]
    return "cost: " + " · ".join(parts)


def outcome_counts(result: RunResult) -> str:
    counts = Counter(r.outcome.value for r in result.actions)
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"


def print_result(console: Console, result: RunResult, *, quiet: bool = False) -> None:
    """The findings table, the plan or the actions, and the totals (quiet: the totals only)."""
    if not quiet:
        console.print(findings_table(list(result.findings)))
        if result.actions:
            title = "plan (dry run: nothing was changed)" if not result.run.applied else "actions"
            console.print(f"[bold]{title}[/bold]")
            console.print(actions_table(result))
    counts = "  ".join(f"{k} {v}" for k, v in result.counts().items() if v)
    console.print(f"findings: {counts or 'none'}", highlight=False)
    if result.actions:
        console.print(f"actions: {outcome_counts(result)}", highlight=False)
    line = totals_line(result)
    if line:
        console.print(line, highlight=False)
    for reason in result.incomplete[:5]:
        console.print(f"[magenta]incomplete:[/magenta] {escape(reason)}", highlight=False)
    if len(result.incomplete) > 5:
        console.print(f"[magenta]incomplete:[/magenta] ... and {len(result.incomplete) - 5} more", highlight=False)
