"""One run, every part through one flow: collect -> rules -> plan (gate, caps) -> execute -> ledger -> reports.

`run_lifecycle` is shared by `audit`, `enforce`, `demo` and the scheduler. The accounts part (L1-L3,
H1, N1, N2) and the reaper part (L4, O1-O6) only differ in what they collect and which rules judge
it: their proposals become one plan, pass one gate, are counted against one set of caps, executed
by one executor and journaled in one journal. An applied run holds the ledger's apply lock for its
whole length (a second one refuses at once, naming the first) and first settles every intent a
crashed run left open.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from custodian import __version__
from custodian.collect.accounts import InventorySources, collect_inventory
from custodian.config import Config
from custodian.engine.execute import Executor
from custodian.engine.gate import Gate, GateContext
from custodian.engine.holds import HoldIndex, Target
from custodian.engine.plan import Limits, Plan, make_plan
from custodian.errors import ExitCode
from custodian.gateways import Gateways
from custodian.gateways.accounts import AcrGateway, GithubGateway
from custodian.gateways.arm import ArmGateway
from custodian.gateways.blobs import BlobGateway
from custodian.ledger.store import Ledger
from custodian.model import (
    ActionKind,
    ActionOutcome,
    ActionRecord,
    AzureResource,
    Blob,
    Finding,
    Hold,
    Inventory,
    RunInfo,
    RunMode,
    RunResult,
    Status,
    Verdict,
)
from custodian.pricing.table import PriceTable
from custodian.progress import NullProgress, Progress
from custodian.providers.wire import CallCounter
from custodian.reports import ReportPaths, write_reports
from custodian.reports.common import run_directory
from custodian.rules.collection import collection_errors
from custodian.rules.holds import expired_holds
from custodian.rules.leftovers import completed_versions
from custodian.rules.lifecycle import LifecycleSettings, evaluate_accounts
from custodian.rules.reaping import MarkState, read_mark
from custodian.run.context import ACCOUNTS, REAPER, Providers, RunRequest, RunTuning, allowed_scopes
from custodian.run.reaper import ReaperCollection, collect_reaper, reap_settings, reaper_verdicts

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


def new_run_id(now: datetime, mode: RunMode) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{mode.value}-{secrets.token_hex(3)}"


def lifecycle_settings(config: Config) -> LifecycleSettings:
    return LifecycleSettings(
        namer=config.namer(),
        handoff_grace=config.lifecycle.handoff_grace,
        prod_revocation_grace=config.lifecycle.prod_revocation_grace,
        retention=config.lifecycle.retention,
        max_credential_lifetime=config.lifecycle.max_credential_lifetime,
        github_mode=config.github.mode.value,
    )


def report_holds(ledger: Ledger, now: datetime) -> list[Hold]:
    """Holds a report lists: every hold not released (active or expired)."""
    return [h for h in ledger.list_holds(include_inactive=True, now=now) if h.released_at is None]


def sources_of(config: Config, providers: Providers) -> InventorySources:
    return InventorySources(
        github=providers.github,
        github_mode=config.github.mode.value,
        release_repos=list(config.github.release_repos),
        production_environment=config.github.production_environment,
        registries=providers.registries,
    )


def _resolved(finding: Finding, records: list[ActionRecord]) -> bool:
    """A FAIL is resolved when its subject's actions all ended DONE and one of them removed the risk."""
    mine = [
        r
        for r in records
        if r.action.subject.scope == finding.subject.scope
        and r.action.subject.provider_name == finding.subject.provider_name
    ]
    if not mine or any(r.outcome is not ActionOutcome.DONE for r in mine):
        return False
    return any(r.action.kind is not ActionKind.MARK for r in mine)  # a mark only schedules the deletion


def exit_code_for(findings: list[Finding], records: list[ActionRecord], applied: bool, plan: Plan | None) -> ExitCode:
    statuses = {f.status for f in findings}
    if Status.ERROR in statuses or any(
        r.outcome in (ActionOutcome.FAILED, ActionOutcome.UNCONFIRMED, ActionOutcome.SKIPPED) for r in records
    ):
        return ExitCode.INCOMPLETE
    failing = [f for f in findings if f.status is Status.FAIL]
    if not failing:
        return ExitCode.OK
    if applied and plan is not None and plan.aborted is None and all(_resolved(f, records) for f in failing):
        return ExitCode.OK  # every failing finding was acted on and confirmed
    return ExitCode.FAILING_FINDINGS


def _gateways(config: Config, providers: Providers, reaper: ReaperCollection | None, now: datetime) -> Gateways:
    gateways = Gateways()
    for registry in providers.registries:
        gateways.add(registry.scope, AcrGateway(registry))
    gateways.add(f"github:{config.github.org}", GithubGateway(providers.github_reader, providers.github_actions))
    settings = reap_settings(config)

    def marked(target: AzureResource | Blob) -> bool:
        modified = target.last_modified if isinstance(target, Blob) else None
        return read_mark(target.tags, settings, now, modified_at=modified).state in (MarkState.PENDING, MarkState.DUE)

    gateways.set_arm(ArmGateway(providers.resources, marked))
    for unit, account in (reaper.blob_accounts if reaper else {}).items():
        gateways.add(unit, BlobGateway(account, marked))
    return gateways


def targets_of(inventory: Inventory) -> dict[str, Target]:
    targets: dict[str, Target] = {a.key: a for a in inventory.accounts}
    targets.update({r.key: r for r in inventory.resources})
    targets.update({b.key: b for b in inventory.blobs})
    return targets


def build_gate(config: Config, inventory: Inventory, holds: list[Hold], now: datetime) -> Gate:
    settings = reap_settings(config)
    known = inventory.timeline.versions()
    return Gate(
        GateContext(
            now=now,
            allowed=allowed_scopes(config),
            incomplete_units=inventory.incomplete_units(),
            timeline_complete=inventory.timeline_complete,
            holds=HoldIndex.build(
                holds,
                now,
                hold_tag=settings.hold_tag if config.reaper else None,
                version_tag_key=settings.version_tag_key,
                stage_tag_key=settings.stage_tag_key,
                known_versions=known,
            ),
            completed_versions=completed_versions(inventory.timeline, settings, now),
            production_stage=settings.production_stage,
            version_tag_key=settings.version_tag_key,
            stage_tag_key=settings.stage_tag_key,
            known_versions=known,
        )
    )


def account_findings(config: Config, inventory: Inventory, holds: list[Hold], now: datetime) -> list[Finding]:
    """The accounts' findings as an audit settles them (holds and refusals included): `release status`."""
    verdicts = evaluate_accounts(inventory, now, lifecycle_settings(config))
    limits = Limits(config.enforce.max_actions_per_run, config.enforce.max_actions_percent)
    gate = build_gate(config, inventory, holds, now)
    plan = make_plan(
        verdicts, targets_of(inventory), gate, limits, _populations(inventory, None), enforce=False, now=now
    )
    return list(plan.findings)


def _populations(inventory: Inventory, reaper: ReaperCollection | None) -> dict[str, int]:
    out: dict[str, int] = dict(reaper.populations) if reaper else {}
    for account in inventory.accounts:
        out[account.scope.key] = out.get(account.scope.key, 0) + 1
    return out


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
    """One run. `fence` (the scheduler's HA check) is called before every action that changes something."""
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
    )
    counter = CallCounter()
    providers = Providers(config, read_only=not applying, counter=counter, tuning=tuning)  # secrets resolved first
    lock = ledger.apply_lock(info.run_id) if applying else None
    try:
        if lock is not None:
            lock.acquire()  # raises LockHeldError naming the run that holds it: nothing was written
        ledger.start_run(info)
        outcome = _run(config, request, info, ledger, clock, progress, on_action, fence, tuning, providers, counter)
    finally:
        if lock is not None:
            lock.release()
        providers.close()
    return outcome


def _run(
    config: Config,
    request: RunRequest,
    info: RunInfo,
    ledger: Ledger,
    clock: Callable[[], datetime],
    progress: Progress,
    on_action: Callable[[ActionRecord], None] | None,
    fence: Callable[[], None] | None,
    tuning: RunTuning,
    providers: Providers,
    counter: CallCounter,
) -> RunOutcome:
    started, applying = info.started_at, info.applied
    evaluated_at = request.as_of or started
    holds = report_holds(ledger, evaluated_at)
    reaper: ReaperCollection | None = None
    prices: PriceTable | None = None
    records: list[ActionRecord] = []
    plan: Plan | None = None
    try:
        inventory = collect_inventory(
            sources_of(config, providers),
            config.namer(),
            started,
            progress,
            accounts_too=ACCOUNTS in request.parts,
            first_sightings=lambda repo, tags: ledger.record_tag_sightings(repo, tags, started),
        )
        timeline = inventory.timeline
        if REAPER in request.parts and config.reaper is not None:
            prices = PriceTable.load(config.reaper.price_table)
            reaper = collect_reaper(
                config,
                providers,
                timeline,
                evaluated_at,
                run_directory(config.reports.directory, info),
                progress,
                tuning,
                read_only=not applying,
            )
            inventory = Inventory(
                inventory.collected_at,
                timeline,
                inventory.accounts,
                tuple(reaper.resources),
                tuple(reaper.blobs),
                (*inventory.errors, *reaper.errors),
            )
        verdicts: list[Verdict] = collection_errors(inventory.errors)
        if ACCOUNTS in request.parts:
            progress.note(f"collected {len(inventory.accounts)} accounts, {len(inventory.errors)} incomplete unit(s)")
            verdicts += evaluate_accounts(inventory, evaluated_at, lifecycle_settings(config))
        if reaper is not None and prices is not None:
            verdicts += reaper_verdicts(config, reaper, timeline, evaluated_at, prices)
        verdicts += expired_holds(holds, evaluated_at)
        enforce = request.mode is RunMode.ENFORCE
        gate = build_gate(config, inventory, holds, evaluated_at)
        planned = make_plan(
            verdicts,
            targets_of(inventory),
            gate,
            Limits(config.enforce.max_actions_per_run, config.enforce.max_actions_percent),
            _populations(inventory, reaper),
            enforce=enforce,
            now=evaluated_at,
        )
        findings = list(planned.findings)
        if enforce:
            plan = planned
            gateways = _gateways(config, providers, reaper, evaluated_at)
            records = _act(planned, info, ledger, clock, progress, on_action, fence, tuning, gate, gateways)
        ledger.record_findings(info.run_id, findings, started)
    finally:
        if reaper is not None:
            reaper.close()
    finished = clock()
    final = RunInfo(
        info.run_id, started, finished, info.mode, applying, info.config_digest, info.tool_version, info.as_of
    )
    result = RunResult(
        final,
        tuple(findings),
        tuple(records),
        tuple(holds),
        tuple(config.stages),
        price_table=prices.info() if prices is not None else None,
    )
    paths = write_reports(result, config.reports.directory)
    code = exit_code_for(findings, records, applying, plan)
    ledger.finish_run(info.run_id, finished, result.counts(), code.name.lower())
    return RunOutcome(result, paths, code, counter.snapshot(), plan)


def _act(
    plan: Plan,
    info: RunInfo,
    ledger: Ledger,
    clock: Callable[[], datetime],
    progress: Progress,
    on_action: Callable[[ActionRecord], None] | None,
    fence: Callable[[], None] | None,
    tuning: RunTuning,
    gate: Gate,
    gateways: Gateways,
) -> list[ActionRecord]:
    """A dry run: PLANNED and the refusals. An applied run: resume, then the plan, everything journaled."""
    if not info.applied:
        return [ActionRecord(a, ActionOutcome.PLANNED, info.started_at, "dry run") for a in plan.actions] + list(
            plan.refused
        )

    def report(record: ActionRecord) -> None:
        progress.advance(f"{record.action.kind.value} {record.action.subject.provider_name}: {record.outcome.value}")
        if on_action is not None:
            on_action(record)

    executor = Executor(
        info.run_id,
        ledger,
        gateways.for_action,
        gate,
        clock,
        fence or (lambda: None),
        confirm_timeout_s=tuning.confirm_timeout_s,
        poll_cap_s=tuning.poll_cap_s,
        on_record=report,
    )
    pending = ledger.pending_intents()
    progress.begin("applying", len(pending) + len(plan.actions))
    resumed = executor.resume(pending)  # first: every intent a crashed run left open gets its outcome
    for record in plan.refused:
        ledger.journal_outcome(info.run_id, record.action, record.outcome, record.at, record.detail)
    done = executor.run(plan.actions) if plan.aborted is None else []
    return list(plan.refused) + resumed + done
