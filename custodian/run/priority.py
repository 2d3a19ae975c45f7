"""Revocations first when GitHub's rate limit is nearly spent (issue 12, item 4).

An applied run that starts with less of GitHub's core budget left than its audit reads and the
revocations already known due would need spends what is left on those revocations first:

1. the accounts known due are the GitHub accounts the last full run found FAIL (a revocation or
   invalidation due and not done: an audit's findings, a dry run's, or an applied run's whose
   action did not finish); none known, or not applying: nothing happens here;
2. the budget is read from `GET /rate_limit` (free: it does not count against the limit); when it
   covers `PER_ACCOUNT_READS` per account last inventoried plus `PER_REVOCATION` per known-due
   account, nothing happens here either (the run reads, then acts, as always);
3. otherwise the release timeline is read (GraphQL's own point budget by default; tag sightings as
   the full collection records them) and the known-due accounts are read again by name
   (`GithubAccountReader.get`, conditional: an unchanged one costs a free 304); their verdicts
   revocation verdicts (rules of purpose REVOKE: L1, L2; a deletion waits for the full inventory)
   are planned through the same gate (holds, allowlist, the timeline's completeness) and
   `max_actions_per_run` (the percentage cap needs a full inventory, as for a version-scoped run),
   then executed, journaled and confirmed by the run's one executor.

The full collection then runs on whatever is left: a scope it cannot read before the budget runs out
is a COLLECT error (`RateLimitExhausted`: refused, never slept through, the lease never held into a
stall), and the report shows the budget used and left. What was planned here is in the budget's
warnings (`findings.json` `api.github.warnings`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from custodian.collect.accounts import collect_inventory
from custodian.engine.gate import Gate
from custodian.engine.plan import Limits, Plan, make_plan
from custodian.gateways import Gateways
from custodian.ledger.store import Ledger
from custodian.model import ActionOutcome, ActionRecord, Finding, Hold, Inventory, ServiceAccount, Status
from custodian.rules.collection import collection_errors
from custodian.rules.lifecycle import evaluate_accounts
from custodian.rules.registry import RULES, Purpose
from custodian.run.context import ACCOUNTS
from custodian.run.notifications import notice_index
from custodian.run.wiring import build_gate, gateways_for, lifecycle_settings, sources_of, targets_of

if TYPE_CHECKING:
    from custodian.run import RunContext

PER_ACCOUNT_READS = 1  # a full inventory: one user read per account (a 304 when unchanged), plus list pages
REVOKING_RULES = frozenset(r.id for r in RULES if r.purpose is Purpose.REVOKE)  # never a deletion here
PER_REVOCATION = 8  # one account's revocation: its reads, the changes, the confirming re-reads
Act = Callable[[Plan, Gate, Gateways], list[ActionRecord]]


def last_account_findings(ledger: Ledger) -> list[Finding]:
    """The GitHub account findings of the most recent finished run that judged every version's accounts."""
    for run in ledger.list_runs(limit=20):
        if not run.finished or run.info.version is not None or run.info.as_of is not None:
            continue
        findings = [f for f in ledger.findings_for_run(run.info.run_id) if f.subject.provider == "github"]
        accounts = [f for f in findings if f.rule != "COLLECT"]
        if accounts:
            return accounts
    return []


def known_due(findings: Sequence[Finding]) -> list[str]:
    """The logins of the accounts those findings say are due for a revocation (FAIL), in order, once each."""
    due = (f for f in findings if f.status is Status.FAIL and f.rule in REVOKING_RULES)
    return list(dict.fromkeys(f.subject.provider_name for f in due))


def revoke_first(ctx: RunContext, holds: list[Hold], act: Act) -> list[ActionRecord]:
    """The known-due revocations, before any audit read, when the budget cannot cover both (else [])."""
    request, config = ctx.request, ctx.config
    if not ctx.info.applied or ACCOUNTS not in request.parts or request.version is not None:
        return []
    findings = last_account_findings(ctx.ledger)
    due = known_due(findings)
    if not due:
        return []
    github = ctx.providers.github
    github.read_rate_limit()
    left = github.budget.remaining
    inventoried = len({f.subject.provider_name for f in findings})
    needed = PER_ACCOUNT_READS * inventoried + PER_REVOCATION * len(due)
    if left is None or left >= needed:
        return []
    github.budget.warn(
        f"{left} GitHub requests left until the reset, the audit and {len(due)} known-due revocation(s) may need "
        f"{needed}: the revocations go first"
    )
    now = ctx.evaluated_at
    started = ctx.info.started_at
    timeline = collect_inventory(
        sources_of(config, ctx.providers),
        config.namer(),
        started,
        ctx.progress,
        accounts_too=False,
        first_sightings=lambda repo, tags: ctx.ledger.record_tag_sightings(repo, tags, started),
    )
    accounts: list[ServiceAccount] = []
    for login in due:
        try:
            account = ctx.providers.github_reader.get(login)
        except Exception as exc:  # noqa: BLE001 - said in the report; the full collection makes it a COLLECT error
            github.budget.warn(f"revocations first: reading {login} failed ({type(exc).__name__}: {exc}), stopped")
            break
        if account is not None:
            accounts.append(account)
    inventory = Inventory(timeline.collected_at, timeline.timeline, tuple(accounts), errors=timeline.errors)
    wanted = set(due)
    verdicts = collection_errors(inventory.errors)
    verdicts += [
        v
        for v in evaluate_accounts(inventory, now, lifecycle_settings(config))
        if v.finding.subject.provider_name in wanted and v.finding.rule in REVOKING_RULES
    ]
    gate = build_gate(config, inventory, holds, now, notice_index(config, ctx.ledger))
    limits = Limits(config.enforce.max_actions_per_run, config.enforce.max_actions_percent)
    plan = make_plan(verdicts, targets_of(inventory), gate, limits, {}, enforce=True, now=now)
    records = act(plan, gate, gateways_for(config, ctx.providers, None, now))
    done = sum(1 for r in records if r.outcome is ActionOutcome.DONE)
    left = github.budget.remaining
    github.budget.warn(f"revocations first: {done} of {len(plan.actions)} action(s) done, {left} requests left")
    return records
