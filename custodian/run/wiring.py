"""How a run is wired: the settings, sources, gate and gateways built from the configuration, and its exit code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from custodian.collect.accounts import InventorySources
from custodian.config import Config
from custodian.engine.gate import Gate, GateContext, NoticeIndex
from custodian.engine.holds import HoldIndex, Target
from custodian.engine.plan import Limits, make_plan
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
    Scope,
    Status,
)
from custodian.rules.leftovers import completed_versions
from custodian.rules.lifecycle import LifecycleSettings, evaluate_accounts
from custodian.rules.reaping import MarkState, ReapSettings, read_mark
from custodian.rules.release_tags import KnownVersions
from custodian.run.context import Providers, allowed_scopes
from custodian.run.reaper import ReaperCollection, reap_settings


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


def gateways_for(config: Config, providers: Providers, reaper: ReaperCollection | None, now: datetime) -> Gateways:
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


def build_gate(
    config: Config, inventory: Inventory, holds: list[Hold], now: datetime, notices: NoticeIndex | None = None
) -> Gate:
    settings = reap_settings(config)
    hold_tag = settings.hold_tag if config.reaper else None
    return gate_over(inventory, holds, now, allowed_scopes(config), settings, hold_tag, notices)


def gate_over(
    inventory: Inventory,
    holds: Sequence[Hold],
    now: datetime,
    allowed: frozenset[Scope],
    settings: ReapSettings,
    hold_tag: str | None,
    notices: NoticeIndex | None = None,
) -> Gate:
    """The gate of one run over its inventory (the tests build theirs with it too)."""
    known = KnownVersions(inventory.timeline.versions())  # indexed once for every check of the run
    return Gate(
        GateContext(
            now=now,
            allowed=allowed,
            incomplete_units=inventory.incomplete_units(),
            timeline_complete=inventory.timeline_complete,
            holds=HoldIndex.build(
                holds,
                now,
                hold_tag=hold_tag,
                version_tag_key=settings.version_tag_key,
                stage_tag_key=settings.stage_tag_key,
                known_versions=known,
            ),
            completed_versions=completed_versions(inventory.timeline, settings, now),
            production_stage=settings.production_stage,
            version_tag_key=settings.version_tag_key,
            stage_tag_key=settings.stage_tag_key,
            known_versions=known,
            notices=notices,
        )
    )


def account_findings(config: Config, inventory: Inventory, holds: list[Hold], now: datetime) -> list[Finding]:
    """The accounts' findings as an audit settles them (holds and refusals included): `release status`."""
    verdicts = evaluate_accounts(inventory, now, lifecycle_settings(config))
    limits = Limits(config.enforce.max_actions_per_run, config.enforce.max_actions_percent)
    gate = build_gate(config, inventory, holds, now)
    plan = make_plan(
        verdicts, targets_of(inventory), gate, limits, populations_of(inventory, None), enforce=False, now=now
    )
    return list(plan.findings)


def populations_of(inventory: Inventory, reaper: ReaperCollection | None) -> dict[str, int]:
    out: dict[str, int] = dict(reaper.populations) if reaper else {}
    for account in inventory.accounts:
        out[account.scope.key] = out.get(account.scope.key, 0) + 1
    return out


def _mine(finding: Finding, records: Sequence[ActionRecord]) -> list[ActionRecord]:
    return [
        r
        for r in records
        if r.action.subject.scope == finding.subject.scope
        and r.action.subject.provider_name == finding.subject.provider_name
    ]


def _resolved(finding: Finding, records: Sequence[ActionRecord]) -> bool:
    """A FAIL is resolved when its subject was deleted (confirmed), or when the actions of its own rule all
    ended DONE and one of them removed the risk (another rule's revocation does not delete an account)."""
    mine = _mine(finding, records)
    if any(r.outcome is not ActionOutcome.DONE for r in mine):
        return False
    if any(r.action.kind.deletes for r in mine):
        return True
    own = [r for r in mine if r.action.rule == finding.rule]
    return any(r.action.kind is not ActionKind.MARK for r in own)  # a mark only schedules the deletion


def settle_outcomes(findings: Sequence[Finding], records: Sequence[ActionRecord], applied: bool) -> list[Finding]:
    """One verdict everywhere: a FAIL that this run's own confirmed actions resolved is FIXED, with the actions."""
    if not applied:
        return list(findings)
    out = []
    for finding in findings:
        if finding.status is Status.FAIL and _resolved(finding, records):
            kinds = ", ".join(sorted({r.action.kind.value for r in _mine(finding, records)}))
            finding = replace(
                finding,
                status=Status.FIXED,
                message=f"{finding.message}; fixed by this run ({kinds}: done, confirmed by re-read)",
                evidence=dict(finding.evidence) | {"fixed_by": kinds},
            )
        out.append(finding)
    return out


_TROUBLE = (ActionOutcome.FAILED, ActionOutcome.UNCONFIRMED, ActionOutcome.SKIPPED)


def incomplete_reasons(findings: Sequence[Finding], records: Sequence[ActionRecord]) -> tuple[str, ...]:
    """Why a run is incomplete: its ERROR findings, and actions failed, unconfirmed or not taken."""
    reasons = [f"{f.rule} {f.subject.provider_name}: {f.message[:200]}" for f in findings if f.status is Status.ERROR]
    troubled = Counter(r.outcome.value for r in records if r.outcome in _TROUBLE)
    reasons += [f"{count} action(s) {outcome}" for outcome, count in sorted(troubled.items())]
    return tuple(reasons)


def exit_code_for(findings: Sequence[Finding], records: Sequence[ActionRecord]) -> ExitCode:
    """1 incomplete (an ERROR, an action not done); 3 a FAIL remains; 0 otherwise (FIXED counts as done)."""
    if incomplete_reasons(findings, records):
        return ExitCode.INCOMPLETE
    if any(f.status is Status.FAIL for f in findings):
        return ExitCode.FAILING_FINDINGS
    return ExitCode.OK
