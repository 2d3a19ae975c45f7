"""`summary.md`: a short GitHub-flavoured Markdown summary for a pull-request comment or a
GitHub Actions step summary (`$GITHUB_STEP_SUMMARY`).

Layout: a one-line verdict heading, a run line, a counts table, the failing (FAIL and ERROR)
findings (at most `max_failing`, then "and N more"), holds (who, why, until) and actions.
A priced run (the reaper ran: see `custodian.reports.costs.has_costs`) has a finance summary at
the top, right under the verdict heading: waste found / reclaimed / held / needs a decision, each
per month with its annualised figure (x12), what needs a decision (report-only findings that cost
money), the five most expensive items (with subscription, owner and cost centre), and where the
prices come from. An unpriced run's layout is unchanged. Holds lists the ledger's holds, then the
objects kept by their hold tag.

Escaping: free text goes through `md_text` (Markdown punctuation backslash-escaped, `<`, `>`
and `&` as entities so no HTML gets through, `|` escaped, newlines as `<br>`, long text cut);
identifiers go in code spans through `md_code` (which also keeps `@name` from notifying anyone).
"""

from __future__ import annotations

import re
from decimal import Decimal

from custodian.model import ActionOutcome, ActionRecord, Finding, Hold, RunMode, RunResult, Status

from .common import (
    FAILING,
    STATUS_ORDER,
    hold_state,
    human_utc,
    incomplete_note,
    ordered_counts,
    sorted_actions,
    sorted_findings,
    sorted_holds,
    subject_label,
    tag_holds,
    trigger_text,
    verdict,
)
from .costs import CostRow, cost_summary, has_costs, money, per_year

STATUS_ICON: dict[Status, str] = {
    Status.FAIL: "❌",
    Status.ERROR: "🛑",
    Status.WARN: "⚠️",
    Status.HELD: "⏸️",
    Status.FIXED: "🔧",
    Status.PASS: "✅",
}

OUTCOME_ICON: dict[ActionOutcome, str] = {
    ActionOutcome.PLANNED: "📝",
    ActionOutcome.INTENT: "⏳",
    ActionOutcome.DONE: "✅",
    ActionOutcome.UNCONFIRMED: "❔",
    ActionOutcome.FAILED: "❌",
    ActionOutcome.SKIPPED: "⏭️",
}

_MD_SPECIALS = re.compile(r"([\\`*_\[\]~|#])")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def md_text(text: str, limit: int = 300) -> str:
    """Free text made safe for a GFM table cell: literal, one line, at most `limit` characters."""
    text = text.strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = _MD_SPECIALS.sub(r"\\\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _NEWLINES.sub("<br>", text)


def md_code(text: str, limit: int = 120) -> str:
    """An identifier as a code span (no Markdown, no HTML, no @-mentions inside), safe in a table."""
    text = _NEWLINES.sub(" ", text.strip())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}".replace("|", "\\|")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _mode_text(result: RunResult) -> str:
    if result.run.mode is RunMode.AUDIT:
        return "audit (read-only)"
    return "enforce (applied)" if result.run.applied else "enforce (dry run)"


def verdict_line(result: RunResult) -> str:
    """The one-line verdict, e.g. `## ❌ FAIL: 3 FAIL · 1 ERROR · 10 PASS (release-custodian)`."""
    status = verdict(result)
    counts = ordered_counts(result)
    parts = [f"{counts[s.value]} {s.value}" for s in STATUS_ORDER if counts[s.value]]
    summary = " · ".join(parts) if parts else "no findings"
    troubled = sum(1 for a in result.actions if a.outcome in {ActionOutcome.FAILED, ActionOutcome.UNCONFIRMED})
    if troubled:
        summary += f"; {troubled} action{'s' if troubled != 1 else ''} failed or unconfirmed"
    word = f"{STATUS_ICON[status]} {status.value}"
    if result.incomplete:
        word = f"🛑 INCOMPLETE ({len(result.incomplete)} problem{'s' if len(result.incomplete) != 1 else ''})"
    forecast = f" · FORECAST at {result.run.as_of:%Y-%m-%d %H:%MZ}" if result.run.as_of else ""
    return f"## {word}: {summary}{forecast} (release-custodian)"


def _run_line(result: RunResult) -> str:
    run = result.run
    digest = run.config_digest if len(run.config_digest) <= 20 else run.config_digest[:19] + "…"
    parts = [f"Run {md_code(run.run_id)}", md_text(_mode_text(result)), f"started {human_utc(run.started_at)}"]
    if run.finished_at is not None:
        parts.append(f"finished {human_utc(run.finished_at)}")
    else:
        parts.append("**not finished**")
    if run.as_of is not None:
        parts.append(f"**forecast as of {human_utc(run.as_of)}**")
    parts.append(md_text(trigger_text(run)))
    parts.append(f"config {md_code(digest)}")
    parts.append(f"release-custodian {md_code(run.tool_version)}")
    return " · ".join(parts)


def _counts_table(result: RunResult) -> list[str]:
    counts = ordered_counts(result)
    return [
        _row([f"{STATUS_ICON[s]} {s.value}" for s in STATUS_ORDER]),
        _row(["---:"] * len(STATUS_ORDER)),
        _row([str(counts[s.value]) for s in STATUS_ORDER]),
    ]


def _finding_row(finding: Finding) -> str:
    return _row(
        [
            f"{STATUS_ICON[finding.status]} {finding.status.value}",
            md_code(finding.rule),
            md_code(subject_label(finding.subject)),
            md_text(finding.message),
            md_text(finding.remediation, limit=200),
        ]
    )


def _hold_row(hold: Hold, result: RunResult) -> str:
    return _row(
        [
            md_code(f"{hold.target_type.value} {hold.target}"),
            md_code(hold.placed_by),
            md_text(hold.reason, limit=200),
            human_utc(hold.until),
            hold_state(hold, result.run),
        ]
    )


def _action_row(record: ActionRecord) -> str:
    return _row(
        [
            human_utc(record.at),
            md_code(record.action.kind.value),
            md_code(subject_label(record.action.subject)),
            md_code(record.action.rule),
            f"{OUTCOME_ICON[record.outcome]} {record.outcome.value}",
            md_text(record.detail or record.action.reason, limit=200),
        ]
    )


def _limited(rows: list[str], limit: int, what: str) -> list[str]:
    if len(rows) <= limit:
        return rows
    return [*rows[:limit], "", f"_…and {len(rows) - limit} more {what} (see findings.json)._"]


def _subscription(row: CostRow) -> str:
    if row.subscription_name:
        return f"{md_text(row.subscription_name, 60)} ({md_code(row.subscription)})"
    return md_code(row.subscription or row.scope) or "—"


def _owner(row: CostRow) -> str:
    return " · ".join(md_text(v, 60) for v in (row.owner, row.cost_center) if v) or "—"


def finance_summary(result: RunResult, top: int = 5, max_decisions: int = 10) -> list[str]:
    """The finance block: totals per month and per year, what needs a decision, the `top` most
    expensive items, the price table."""
    summary = cost_summary(result)
    currency = summary.currency or ""

    def amount(value: Decimal) -> str:
        return f"{money(value)} {md_text(currency)}/month".strip()

    def both(value: Decimal) -> str:
        return f"{amount(value)} ({money(per_year(value))} {md_text(currency)}/year)"

    totals = summary.totals
    lines = [
        f"### 💰 Finance summary: estimated cost per month{f' ({md_text(currency)})' if currency else ''}",
        "",
        _row(["Waste found", "Reclaimed (deleted, confirmed)", "Held", "Needs a decision"]),
        _row(["---:"] * 4),
        _row([both(totals.found), both(totals.reclaimed), both(totals.held), both(totals.needs_decision)]),
        "",
    ]
    if incomplete_note(result):
        lines += [f"**{incomplete_note(result)}**: these totals leave out what was not seen.", ""]
    decisions = summary.needs_decision()
    if decisions:
        lines += [
            f"**Needs a decision**: {len(decisions)} report-only item{'s' if len(decisions) != 1 else ''} "
            f"cost {both(totals.needs_decision)}; the custodian never acts on them, someone has to decide:",
            "",
            _row(["Resource", "Type", "Subscription", "Owner · cost centre", "Rule", "Cost /month", "Why"]),
            _row(["---"] * 7),
        ]
        rows = [
            _row(
                [
                    md_code(r.name),
                    md_code(r.type),
                    _subscription(r),
                    _owner(r),
                    md_code(r.rule),
                    amount(r.monthly),
                    md_text(r.message, 160),
                ]
            )
            for r in decisions
        ]
        lines += [*_limited(rows, max_decisions, "items that need a decision"), ""]
    items = summary.top(top)
    if items:
        lines += [f"Top {len(items)} most expensive item{'s' if len(items) != 1 else ''}:", ""]
        header = ["#", "Resource", "Type", "Subscription", "Owner · cost centre", "Version · stage", "Rule", "Status"]
        lines += [_row([*header, "Cost /month"]), _row(["---"] * (len(header) + 1))]
        for rank, row in enumerate(items, 1):
            placed = " · ".join(p for p in (row.version, row.stage) if p) or "—"
            lines.append(
                _row(
                    [
                        str(rank),
                        md_code(row.name),
                        md_code(row.type),
                        _subscription(row),
                        _owner(row),
                        md_text(placed),
                        md_code(row.rule),
                        f"{STATUS_ICON[row.status]} {row.status.value}" + (" (reclaimed)" if row.confirmed else ""),
                        amount(row.monthly),
                    ]
                )
            )
        lines.append("")
    else:
        lines += ["No resource with a cost was found.", ""]
    table = result.price_table
    if table is not None:
        lines.append(
            f"_Prices: {md_text(table.source)}, retrieved {md_text(table.retrieved)}, region {md_text(table.region)}. "
            "Every priced resource is in `cost.csv`._"
        )
        lines.append("")
    return lines


def render_markdown(result: RunResult, *, max_failing: int = 50, max_actions: int = 50) -> str:
    """`summary.md` as text."""
    lines = [verdict_line(result), ""]
    if has_costs(result):
        lines += finance_summary(result)
    lines += [_run_line(result), "", *_counts_table(result), ""]

    failing = [f for f in sorted_findings(result) if f.status in FAILING]
    if failing:
        lines += [f"### Failing findings ({len(failing)})", ""]
        lines += [_row(["Status", "Rule", "Subject", "Message", "Remediation"]), _row(["---"] * 5)]
        lines += _limited([_finding_row(f) for f in failing], max_failing, "failing findings")
    else:
        lines += ["No failing findings."]
    lines.append("")

    holds = sorted_holds(result)
    tagged = tag_holds(result)
    if holds or tagged:
        lines += [f"### Holds ({len(holds) + len(tagged)})", ""]
        lines += [_row(["Target", "Placed by", "Reason", "Until", "State"]), _row(["---"] * 5)]
        lines += [_hold_row(h, result) for h in holds]
        lines += [
            _row(
                [
                    md_code(subject_label(t.subject)),
                    f"hold tag {md_code(t.tag)}",
                    md_text(f"kept from {', '.join(t.rules)}"),
                    "while tagged",
                    "active (tag)",
                ]
            )
            for t in tagged
        ]
        lines.append("")

    actions = sorted_actions(result)
    if actions:
        lines += [f"### Actions ({len(actions)})", ""]
        lines += [_row(["At", "Action", "Subject", "Rule", "Outcome", "Detail"]), _row(["---"] * 6)]
        lines += _limited([_action_row(a) for a in actions], max_actions, "actions")
        lines.append("")

    return "\n".join(lines)
