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
    RunInfo,
    RunMode,
    RunResult,
    Status,
)
from custodian.plan import Plan, PlanLimits, plan_actions
from custodian.progress import NullProgress, Progress
from custodian.providers.azure.acr import AcrTokens
from custodian.providers.azure.clients import ArmClients, ArmSettings, StaticTokenCredential
from custodian.providers.github.accounts import GithubAccountReader
from custodian.providers.github.actions import GithubAccountActions
from custodian.providers.github.client import GithubSession, GithubSettings
from custodian.providers.wire import CallCounter
from custodian.reports import ReportPaths, write_reports
from custodian.rules.lifecycle import LifecycleSettings, evaluate_accounts
from custodian.sweeps.execute import Executor
from custodian.sweeps.gateways import AccountGateway, AcrGateway, GithubGateway
from custodian.sweeps.inventory import InventorySources, collect_inventory


@dataclass(frozen=True)
class RunRequest:
    mode: RunMode
    apply: bool = False
    as_of: datetime | None = None

    def __post_init__(self) -> None:
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


def exit_code_for(findings: list[Finding], records: list[ActionRecord], applied: bool, plan: Plan | None) -> ExitCode:
    statuses = {f.status for f in findings}
    unfinished = (ActionOutcome.FAILED, ActionOutcome.UNCONFIRMED, ActionOutcome.SKIPPED)  # SKIPPED: fenced
    if Status.ERROR in statuses or any(r.outcome in unfinished for r in records):
        return ExitCode.INCOMPLETE
    if Status.FAIL not in statuses:
        return ExitCode.OK
    if applied and plan is not None and not plan.aborted and not plan.refusals:
        return ExitCode.OK  # every failing finding was acted on and confirmed
    return ExitCode.FAILING_FINDINGS


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
    try:
        evaluated_at = request.as_of or started
        inventory = collect_inventory(providers.sources(), config.namer(), started, progress)
        progress.note(f"collected {len(inventory.accounts)} accounts, {len(inventory.errors)} incomplete scope(s)")
        holds = report_holds(ledger, evaluated_at)
        findings = evaluate_accounts(inventory, holds, evaluated_at, lifecycle_settings(config))
        plan: Plan | None = None
        records: list[ActionRecord] = []
        if request.mode is RunMode.ENFORCE:
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
    result = RunResult(final_info, tuple(findings), tuple(records), tuple(holds), tuple(config.stages))
    paths = write_reports(result, config.reports.directory)
    code = exit_code_for(findings, records, applying, plan)
    ledger.finish_run(info.run_id, finished, result.counts(), code.name.lower())
    return RunOutcome(result, paths, code, counter.snapshot(), plan)
