"""One lifecycle run (rules L1-L3, H1, N1, N2): collect, evaluate, plan, execute, journal, report.

`run_lifecycle` is shared by `audit`, `enforce`, `demo` and the scheduler. Clients are read-only on
the wire unless the run is an applied enforce; `as_of` (audit only) evaluates a future time.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from custodian import __version__
from custodian.config import Config
from custodian.errors import ExitCode
from custodian.ledger.store import Ledger
from custodian.model import (
    Action,
    ActionKind,
    ActionOutcome,
    ActionRecord,
    Finding,
    Hold,
    ReleaseTimeline,
    RunInfo,
    RunMode,
    RunResult,
    Severity,
    Status,
    Subject,
)
from custodian.plan import TIMELINE_SCOPE, Plan, PlanLimits, plan_actions
from custodian.pricing.table import PriceTable
from custodian.progress import NullProgress, Progress
from custodian.providers.azure.acr import AcrTokens
from custodian.providers.azure.clients import ArmClients, ArmSettings, StaticTokenCredential
from custodian.providers.github.accounts import GithubAccountReader
from custodian.providers.github.actions import GithubAccountActions
from custodian.providers.github.client import GithubSession, GithubSettings
from custodian.providers.wire import CallCounter
from custodian.reports import ReportPaths, write_reports
from custodian.reports.common import run_directory
from custodian.rules.leftovers import completed_versions, leftover_stages
from custodian.rules.lifecycle import LifecycleSettings, collection_error_findings, evaluate_accounts
from custodian.sweeps.execute import Executor
from custodian.sweeps.gateways import AccountGateway, AcrGateway, GithubGateway
from custodian.sweeps.inventory import InventorySources, collect_inventory

ACCOUNTS = "accounts"  # rules L1-L3, H1, N1, N2 on service accounts
REAPER = "reaper"  # rule L4 and orphans O1-O6 (when the config has a `reaper` section)


@dataclass(frozen=True)
class RunRequest:
    mode: RunMode
    apply: bool = False
    as_of: datetime | None = None
    parts: frozenset[str] = frozenset({ACCOUNTS, REAPER})

    def __post_init__(self) -> None:
        if not self.parts or not self.parts <= {ACCOUNTS, REAPER}:
            raise ValueError(f"a run covers accounts and/or reaper, got {sorted(self.parts)}")
        if self.apply and self.mode is not RunMode.ENFORCE:
            raise ValueError("only an enforce run can apply changes")
        if self.as_of is not None and self.mode is not RunMode.AUDIT:
            raise ValueError("--as-of is a read-only forecast: use it with audit")


@dataclass(frozen=True)
class RunOutcome:
    result: RunResult
    reports: ReportPaths
    exit_code: ExitCode
    api_calls: dict[str, dict[str, int]]
    plan: Plan | None


def new_run_id(now: datetime, mode: RunMode) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{mode.value}-{secrets.token_hex(3)}"


def lifecycle_settings(config: Config) -> LifecycleSettings:
    return LifecycleSettings(
        namer=config.namer(),
        handoff_grace=config.lifecycle.handoff_grace,
        prod_revocation_grace=config.lifecycle.prod_revocation_grace,
        retention=config.lifecycle.retention,
        max_credential_lifetime=config.lifecycle.max_credential_lifetime,
    )


class Providers:
    """The provider adapters of one run, built from the configuration (read-only unless applying)."""

    def __init__(self, config: Config, *, read_only: bool, counter: CallCounter) -> None:
        self.config = config
        self.github = GithubSession(
            GithubSettings(
                base_url=config.github.base_url,
                token=config.github.token.resolve(),
                org=config.github.org,
                per_page=config.github.per_page,
                read_only=read_only,
            ),
            counter,
        )
        if config.azure.access_token is not None:
            credential: object = StaticTokenCredential(config.azure.access_token.resolve())
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self.arm = ArmClients(
            ArmSettings(
                endpoint=config.azure.arm_endpoint,
                credential=credential,  # type: ignore[arg-type]
                ca_bundle=str(config.azure.ca_bundle) if config.azure.ca_bundle else None,
                read_only=read_only,
            ),
            counter,
        )
        self.registries = [
            AcrTokens(self.arm, r.subscription, r.resource_group, r.name, r.login_server)
            for r in config.azure.registries
        ]
        self._gateways: dict[str, AccountGateway] = {r.scope: AcrGateway(r) for r in self.registries}
        reader = GithubAccountReader(self.github, config.github.mode.value)
        self._github_gateway = GithubGateway(reader, GithubAccountActions(self.github))

    def sources(self) -> InventorySources:
        return InventorySources(
            github=self.github,
            github_mode=self.config.github.mode.value,
            release_repos=list(self.config.github.release_repos),
            production_environment=self.config.github.production_environment,
            registries=self.registries,
        )

    def gateway_for(self, action: Action) -> AccountGateway:
        scope = action.subject.scope or ""
        if scope.startswith("github:"):
            return self._github_gateway
        if scope in self._gateways:
            return self._gateways[scope]
        raise ValueError(f"no gateway for scope {scope!r}")

    def close(self) -> None:
        self.github.close()
        self.arm.close()


def report_holds(ledger: Ledger, now: datetime) -> list[Hold]:
    """Holds a report lists: every hold not released (active or expired)."""
    return [h for h in ledger.list_holds(include_inactive=True, now=now) if h.released_at is None]


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
    if applied and (plan is None or not plan.aborted) and all(_resolved(f, records) for f in failing):
        return ExitCode.OK  # every failing finding was acted on and confirmed
    return ExitCode.FAILING_FINDINGS


def reap(
    config: Config,
    *,
    info: RunInfo,
    timeline: ReleaseTimeline,
    timeline_complete: bool,
    now: datetime,
    enforce: bool,
    apply: bool,
    ledger: Ledger,
    clock: Callable[[], datetime],
    progress: Progress,
    counter: CallCounter,
    prices: PriceTable,
    fence: Callable[[], None],
) -> tuple[list[Finding], list[ActionRecord]]:
    """The reaper's two halves: ARM resources through Cloud Custodian, then blobs."""
    from custodian.reaper.arm import reap_arm  # the reaper pulls in c7n's runner: only when a run needs it
    from custodian.reaper.blobs import sweep_blobs

    assert config.reaper is not None
    findings: list[Finding] = []
    records: list[ActionRecord] = []
    if config.azure.access_token is None:
        findings.append(reaper_needs_token())
    else:
        arm_findings, arm_records = reap_arm(
            config,
            run_id=info.run_id,
            timeline=timeline,
            timeline_complete=timeline_complete,
            now=now,
            enforce=enforce,
            apply=apply,
            journal=ledger,
            clock=clock,
            progress=progress,
            counter=counter,
            prices=prices,
            arm_endpoint=config.azure.arm_endpoint,
            access_token=config.azure.access_token.resolve(),
            ca_bundle=str(config.azure.ca_bundle) if config.azure.ca_bundle else None,
            work_dir=run_directory(config.reports.directory, info),
            fence=fence,
        )
        findings += arm_findings
        records += arm_records
    if config.reaper.storage_accounts:
        blob_findings, blob_records = sweep_blobs(
            config,
            run_id=info.run_id,
            completed_versions=completed_versions(timeline, config.reaper.leftover_grace, now)
            if timeline_complete
            else [],
            leftover_stages=leftover_stages(timeline),
            now=now,
            enforce=enforce,
            apply=apply,
            journal=ledger,
            clock=clock,
            progress=progress,
            counter=counter,
            prices=prices,
            fence=fence,
        )
        findings += blob_findings
        records += blob_records
    return findings, records


def reaper_needs_token() -> Finding:
    return Finding(
        "REAPER",
        Status.ERROR,
        Severity.HIGH,
        Subject(provider="azure", kind="reaper", provider_name="arm"),
        "the ARM reaper runs Cloud Custodian with a bearer token: set azure.access_token",
        {},
        "Configure azure.access_token ({env: NAME} or {file: PATH}) for runs that include the reaper.",
    )


def _report_action(record: ActionRecord, progress: Progress, on_action: Callable[[ActionRecord], None] | None) -> None:
    action = record.action
    progress.advance(f"{action.kind.value} {action.subject.provider_name}: {record.outcome.value}")
    if on_action is not None:
        on_action(record)


def run_lifecycle(
    config: Config,
    request: RunRequest,
    *,
    ledger: Ledger,
    clock: Callable[[], datetime],
    progress: Progress | None = None,
    on_action: Callable[[ActionRecord], None] | None = None,
    fence: Callable[[], None] | None = None,
) -> RunOutcome:
    """One lifecycle run. `fence` (the scheduler's HA check) is called before every destructive action."""
    progress = progress or NullProgress()
    started = clock()
    applying = request.mode is RunMode.ENFORCE and request.apply
    info = RunInfo(
        run_id=new_run_id(started, request.mode),
        started_at=started,
        finished_at=None,
        mode=request.mode,
        applied=applying,
        config_digest=config.digest(),
        tool_version=__version__,
        as_of=request.as_of,
    )
    counter = CallCounter()
    providers = Providers(config, read_only=not applying, counter=counter)  # resolves secrets: fails before any write
    ledger.start_run(info)
    findings: list[Finding] = []
    records: list[ActionRecord] = []
    plan: Plan | None = None
    prices: PriceTable | None = None
    evaluated_at = request.as_of or started
    holds = report_holds(ledger, evaluated_at)
    try:
        inventory = collect_inventory(
            providers.sources(), config.namer(), started, progress, accounts_too=ACCOUNTS in request.parts
        )
        if ACCOUNTS in request.parts:
            progress.note(f"collected {len(inventory.accounts)} accounts, {len(inventory.errors)} incomplete scope(s)")
            findings = evaluate_accounts(inventory, holds, evaluated_at, lifecycle_settings(config))
        else:
            findings = collection_error_findings(inventory.errors)
        if request.mode is RunMode.ENFORCE and ACCOUNTS in request.parts:
            plan = plan_actions(
                findings,
                inventory,
                PlanLimits(
                    allowed_subscriptions=frozenset(config.enforce.allowed_subscriptions),
                    allowed_orgs=frozenset(config.enforce.allowed_orgs),
                    max_actions_per_run=config.enforce.max_actions_per_run,
                    max_actions_percent=config.enforce.max_actions_percent,
                    github_mode=config.github.mode.value,
                ),
            )
            findings = findings + list(plan.refusals)
            if applying and not plan.aborted:
                progress.begin("applying", len(plan.actions))
                executor = Executor(info.run_id, ledger, providers.gateway_for, clock, fence or (lambda: None))
                planned = {a.key for a in plan.actions}
                crashed = [
                    (e.run_id, e.record.action)
                    for e in ledger.pending_intents()
                    if e.record.action.kind not in (ActionKind.MARK, ActionKind.DELETE_RESOURCE)  # the reaper's own
                ]
                records = executor.resolve_pending([(r, a) for r, a in crashed if a.key not in planned])
                records += executor.run(plan.actions, lambda r: _report_action(r, progress, on_action))
            else:
                records = [ActionRecord(a, ActionOutcome.PLANNED, started, "dry run") for a in plan.actions]
        if REAPER in request.parts and config.reaper is not None:
            prices = PriceTable.load(config.reaper.price_table)
            reaped_findings, reaped_records = reap(
                config,
                info=info,
                timeline=inventory.timeline,
                timeline_complete=inventory.scope_complete(TIMELINE_SCOPE),
                now=evaluated_at,
                enforce=request.mode is RunMode.ENFORCE,
                apply=applying,
                ledger=ledger,
                clock=clock,
                progress=progress,
                counter=counter,
                prices=prices,
                fence=fence or (lambda: None),
            )
            findings += reaped_findings
            records += reaped_records
        ledger.record_findings(info.run_id, findings, started)
    finally:
        providers.close()
    finished = clock()
    final_info = RunInfo(
        info.run_id,
        info.started_at,
        finished,
        info.mode,
        info.applied,
        info.config_digest,
        info.tool_version,
        info.as_of,
    )
    result = RunResult(
        final_info,
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
