"""One run, every part through one flow: collect -> rules -> plan (gate, caps) -> execute -> ledger -> reports.

`run_lifecycle` is shared by `audit`, `enforce`, `demo` and the scheduler. The accounts part (L1-L3,
H1, N1, N2) and the reaper part (L4, O1-O6) only differ in what they collect and which rules judge
it: their proposals become one plan, pass one gate, are counted against one set of caps, executed
by one executor and journaled in one journal. An applied run holds the ledger's apply lock for its
whole length (a second one refuses at once, naming the first, or with `RunRequest.wait` waits for
it), closes the applied runs that died without finishing as `crashed`, and first settles every
intent a crashed run left open.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from custodian import __version__
from custodian.collect.accounts import collect_inventory
from custodian.collect.completeness import Completeness, ShrinkTolerance
from custodian.collect.version_scope import collect_version, version_scope
from custodian.config import Config
from custodian.engine.execute import Executor, fence_of
from custodian.engine.gate import Gate
from custodian.engine.plan import Limits, Plan, make_plan
from custodian.errors import BadInputError, ExitCode
from custodian.gateways import Gateways
from custodian.ledger.store import Ledger
from custodian.model import (
    ActionOutcome,
    ActionRecord,
    Inventory,
    RunInfo,
    RunMode,
    RunResult,
    Verdict,
)
from custodian.notify.send import NotifyOutcome
from custodian.pricing.table import PriceTable
from custodian.private_files import make_private_dirs
from custodian.progress import NullProgress, Progress
from custodian.providers.github.cache import GithubCache
from custodian.providers.wire import CallCounter
from custodian.reports import ReportPaths, costs_document, write_reports
from custodian.reports.common import run_directory
from custodian.rules.collection import collection_errors
from custodian.rules.holds import expired_holds
from custodian.rules.lifecycle import evaluate_accounts
from custodian.run.context import (
    ACCOUNTS,
    REAPER,
    Providers,
    RunRequest,
    RunTuning,
)
from custodian.run.notifications import notice_index, notify_owners
from custodian.run.priority import revoke_first
from custodian.run.reaper import ReaperCollection, collect_reaper, reaper_verdicts
from custodian.run.report_inputs import report_context
from custodian.run.wiring import (
    account_findings,
    build_gate,
    exit_code_for,
    gateways_for,
    incomplete_reasons,
    lifecycle_settings,
    populations_of,
    report_holds,
    settle_outcomes,
    sources_of,
    targets_of,
)

__all__ = [
    "ACCOUNTS",
    "REAPER",
    "Providers",
    "RunOutcome",
    "RunRequest",
    "RunTuning",
    "account_findings",
    "lifecycle_settings",
    "report_holds",
    "run_lifecycle",
    "sources_of",
]


@dataclass(frozen=True)
class RunOutcome:
    result: RunResult
    reports: ReportPaths
    exit_code: ExitCode
    api_calls: dict[str, dict[str, int]]
    plan: Plan | None  # None for audits
    notices: NotifyOutcome | None = None  # enforce runs with `notifications`: what was sent (or would be)
    github_budget: dict[str, Any] = field(default_factory=dict)  # GitHub's rate limit: used, left, reset


def new_run_id(now: datetime, mode: RunMode) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{mode.value}-{secrets.token_hex(3)}"


def run_lifecycle(
    config: Config,
    request: RunRequest,
    *,
    ledger: Ledger,
    clock: Callable[[], datetime],
    progress: Progress | None = None,
    on_action: Callable[[ActionRecord], None] | None = None,
    fence: Callable[[], None] | None = None,
    tuning: RunTuning | None = None,
) -> RunOutcome:
    """One run. `fence` (the scheduler's HA check) is called before every action that changes something,
    after the apply lock's own check (an applied run whose lock is no longer surely its own stops acting)."""
    progress = progress or NullProgress()
    tuning = tuning or RunTuning()
    started = clock()
    applying = request.applying
    info = RunInfo(
        new_run_id(started, request.mode),
        started,
        None,
        request.mode,
        applying,
        config.digest(),
        __version__,
        request.as_of,
        trigger=request.trigger,
        version=request.version,
    )
    _reports_directory(config)  # a reports directory that cannot be made is bad input, found before any run row
    counter = CallCounter()
    providers = Providers(config, read_only=not applying, counter=counter, tuning=tuning)  # secrets resolved first
    if tuning.github_cache:
        providers.github.cache = GithubCache(ledger, config.github.base_url, started)
    lock = ledger.apply_lock(info.run_id, config.ledger.lock_ttl) if applying else None
    try:
        if lock is not None:  # held: LockHeldError naming the run that holds it, nothing written (or wait)
            lock.acquire(
                wait=request.wait,
                timeout=request.wait_timeout_s,
                on_wait=lambda held: progress.note(f"waiting: {held}"),
            )
            fence = fence_of(lock.check, fence or (lambda: None))  # the lock lost: no further action
            crashed = ledger.close_crashed_runs(clock(), current=info.run_id)
            if crashed:
                progress.note(
                    f"closed {len(crashed)} applied run(s) that died unfinished as crashed: {', '.join(crashed)}"
                )
        ledger.start_run(info)
        ctx = RunContext(
            config,
            request,
            info,
            ledger,
            clock,
            progress,
            on_action,
            fence or (lambda: None),
            tuning,
            providers,
            counter,
        )
        outcome = _run(ctx)
    finally:
        if lock is not None:
            lock.release()
        _flush_github_cache(providers)
        providers.close()
    return outcome


@dataclass(frozen=True)
class RunContext:
    """What one run works with, from start to finish (instead of a dozen parameters threaded through)."""

    config: Config
    request: RunRequest
    info: RunInfo
    ledger: Ledger
    clock: Callable[[], datetime]
    progress: Progress
    on_action: Callable[[ActionRecord], None] | None
    fence: Callable[[], None]
    tuning: RunTuning
    providers: Providers
    counter: CallCounter

    @property
    def evaluated_at(self) -> datetime:
        return self.request.as_of or self.info.started_at


def _collect(ctx: RunContext) -> tuple[Inventory, ReaperCollection | None, PriceTable | None]:
    """Collect every part the request covers (read-only; what could not be read is in `inventory.errors`)."""
    config, started = ctx.config, ctx.info.started_at
    if ctx.request.version is not None:  # an event's hand-off: that version's tags, deployments, accounts
        scoped = collect_version(
            sources_of(config, ctx.providers),
            config.namer(),
            version_scope(config, ctx.request.version),
            started,
            ctx.progress,
            first_sightings=lambda repo, tags: ctx.ledger.record_tag_sightings(repo, tags, started),
        )
        return scoped, None, None
    tolerance = ShrinkTolerance(config.collect.shrink_tolerance, config.collect.shrink_minimum)
    completeness = Completeness(ctx.ledger.listing_sizes(), tolerance)  # a shrunken listing is read twice
    inventory = collect_inventory(
        sources_of(config, ctx.providers),
        config.namer(),
        started,
        ctx.progress,
        accounts_too=ACCOUNTS in ctx.request.parts,
        first_sightings=lambda repo, tags: ctx.ledger.record_tag_sightings(repo, tags, started),
        completeness=completeness,
    )
    ctx.ledger.record_listing_sizes(completeness.accepted, ctx.info.run_id, started)
    for confirmed in completeness.confirmed:
        ctx.progress.note(confirmed)
    if REAPER not in ctx.request.parts or config.reaper is None:
        return inventory, None, None
    prices = PriceTable.load(config.reaper.price_table)
    reaper = collect_reaper(
        config,
        ctx.providers,
        inventory.timeline,
        ctx.evaluated_at,
        run_directory(config.reports.directory, ctx.info),
        ctx.progress,
        ctx.tuning,
        read_only=not ctx.info.applied,
    )
    inventory = Inventory(
        inventory.collected_at,
        inventory.timeline,
        inventory.accounts,
        tuple(reaper.resources),
        tuple(reaper.blobs),
        (*inventory.errors, *reaper.errors),
    )
    return inventory, reaper, prices


def _run(ctx: RunContext) -> RunOutcome:
    config, info, now = ctx.config, ctx.info, ctx.evaluated_at
    holds = report_holds(ctx.ledger, now)
    reaper: ReaperCollection | None = None
    prices: PriceTable | None = None
    records: list[ActionRecord] = []
    plan: Plan | None = None
    notified: NotifyOutcome | None = None
    try:
        # near GitHub's rate limit, the revocations already known due go before any audit read
        early = revoke_first(ctx, holds, lambda plan, gate, gateways: _act(ctx, plan, gate, gateways))
        inventory, reaper, prices = _collect(ctx)
        verdicts: list[Verdict] = collection_errors(inventory.errors)
        if ACCOUNTS in ctx.request.parts:
            ctx.progress.note(
                f"collected {len(inventory.accounts)} accounts, {len(inventory.errors)} incomplete unit(s)"
            )
            verdicts += _in_scope(ctx.request, evaluate_accounts(inventory, now, lifecycle_settings(config)))
        if reaper is not None and prices is not None:
            verdicts += reaper_verdicts(config, reaper, inventory.timeline, now, prices)
        verdicts += expired_holds(holds, now)
        enforce = ctx.request.mode is RunMode.ENFORCE
        gate = build_gate(config, inventory, holds, now, notice_index(config, ctx.ledger))
        limits = Limits(config.enforce.max_actions_per_run, config.enforce.max_actions_percent)
        # a version-scoped run reads its version's accounts by name, no listing: the percentage cap's
        # denominator would be those few accounts, so only `max_actions_per_run` bounds it
        populations = populations_of(inventory, reaper) if ctx.request.version is None else {}
        targets = targets_of(inventory)
        planned = make_plan(verdicts, targets, gate, limits, populations, enforce=enforce, now=now)
        findings = list(planned.findings)
        if enforce:
            plan = planned
            records = early + _act(ctx, planned, gate, gateways_for(config, ctx.providers, reaper, now))
            notified = notify_owners(
                config,
                ctx.ledger,
                ctx.providers,
                info.run_id,
                planned,
                records,
                findings,
                targets,
                now,
                applied=info.applied,
                timeline=inventory.timeline,
            )
            if notified is not None:
                findings += notified.findings
    finally:
        if reaper is not None:
            reaper.close()
    findings = settle_outcomes(findings, records, info.applied)
    ctx.ledger.record_findings(info.run_id, findings, info.started_at)
    finished = ctx.clock()
    final = replace(info, finished_at=finished)
    price_table = prices.info() if prices is not None else None
    incomplete = incomplete_reasons(findings, records)
    context = report_context(config, ctx.ledger, ctx.providers, findings, priced=prices is not None)
    result = RunResult(
        final,
        tuple(findings),
        tuple(records),
        tuple(holds),
        tuple(config.stages),
        price_table,
        incomplete,
        context,
        api_usage(ctx),
    )
    paths = write_reports(
        result, config.reports.directory, formats=config.reports.formats, keep=config.reports.keep.retention()
    )
    code = exit_code_for(findings, records)
    ctx.ledger.finish_run(info.run_id, finished, result.counts(), code.name.lower(), costs_document(result))
    return RunOutcome(result, paths, code, ctx.counter.snapshot(), plan, notified, api_usage(ctx)["github"])


def _reports_directory(config: Config) -> None:
    """Create `reports.directory` (owner-only) now: a run that could not write its reports is refused up front."""
    directory = config.reports.directory
    try:
        make_private_dirs(directory)
    except OSError as exc:
        raise BadInputError(f"reports.directory: cannot create {directory}: {exc.strerror or exc}") from exc


def _flush_github_cache(providers: Providers) -> None:
    """Write the conditional answers the run kept; failing to only costs full reads next run."""
    if providers.github.cache is None:
        return
    try:
        providers.github.cache.flush()
    except Exception:  # a cache: the run's outcome stands without it
        logging.getLogger(__name__).warning("could not keep GitHub's answers in the ledger", exc_info=True)


def api_usage(ctx: RunContext) -> dict[str, Any]:
    """What the run cost providers (`findings.json`'s `api`): calls, and GitHub's rate-limit budget."""
    github = ctx.providers.github
    budget = github.budget.document()
    cache = github.cache
    budget["facts_cached"] = cache.hits if cache is not None else 0
    budget["facts_read"] = cache.misses if cache is not None else 0
    return {"calls": ctx.counter.snapshot(), "github": budget}


def _in_scope(request: RunRequest, verdicts: list[Verdict]) -> list[Verdict]:
    """A version-scoped run keeps its version's account verdicts (the caps still count every account)."""
    if request.version is None:
        return verdicts
    return [v for v in verdicts if v.finding.subject.version == request.version]


def _act(ctx: RunContext, plan: Plan, gate: Gate, gateways: Gateways) -> list[ActionRecord]:
    """A dry run: PLANNED and the refusals. An applied run: resume, then the plan, everything journaled."""
    info, ledger = ctx.info, ctx.ledger
    if not info.applied:
        planned = [ActionRecord(a, ActionOutcome.PLANNED, info.started_at, "dry run") for a in plan.actions]
        return planned + list(plan.refused)

    def report(record: ActionRecord) -> None:
        ctx.progress.advance(f"{record.action.kind.value} {record.action.subject.short_label}: {record.outcome.value}")
        if ctx.on_action is not None:
            ctx.on_action(record)

    executor = Executor(
        info.run_id,
        ledger,
        gateways.for_action,
        gate,
        ctx.clock,
        ctx.fence,
        confirm_timeout_s=ctx.tuning.confirm_timeout_s,
        poll_cap_s=ctx.tuning.poll_cap_s,
        on_record=report,
    )
    pending = ledger.pending_intents()
    ctx.progress.begin("applying", len(pending) + len(plan.actions))
    resumed = executor.resume(pending)  # first: every intent a crashed run left open gets its outcome
    for record in plan.refused:
        ledger.journal_outcome(info.run_id, record.action, record.outcome, record.at, record.detail)
    done = executor.run(plan.actions) if plan.aborted is None else []
    return list(plan.refused) + resumed + done
