"""The Azure-resource half of the reaper: rule L4 and orphans O1-O5, through Cloud Custodian.

`reap_arm` runs the reviewed policies of `reaper.policies_dir` (see `arm_policies` and
`policies/README.md`) with c7n in a subprocess (`custodian.c7n_runner`), one subscription at a
time, and turns what c7n found into findings and journaled actions:

1. Per-run values: `completed_versions(timeline, reaper.leftover_grace, now)` and the leftover
   stages are written to ``<work_dir>/arm/reaper-inputs.json``, which the L4 filters read with
   c7n's ``value_from``; the templates are rendered with the configured values into
   ``<work_dir>/arm/policies/`` (what c7n runs, kept with the run) and checked.
2. Inventory, per subscription: ONE c7n run of every policy, ``--dryrun``, read-only on the wire
   (``--read-only``), with c7n's in-memory cache (all policies of a type judge the same listing)
   and ``--as-of now`` (c7n's notion of "now" is the custodian's evaluation time: the sandbox clock,
   an ``audit --as-of`` forecast). It is the dry run for this run's actions too.
3. Fail closed: a failed or timed-out c7n run, a policy without output, a listing that disagrees
   with the reaper's own generic ARM listing (a page cut short, a 500 that outlasted the retries),
   or an inconsistent policy result is an ERROR finding (rule ``COLLECT``) and blocks every mark
   and delete in that subscription. An incomplete release timeline is an ERROR (rule ``L4``) and
   blocks L4 marks and deletes; orphans proceed. Resources of subscriptions outside
   ``enforce.allowed_subscriptions`` are reported, never acted on. Exceeding
   ``enforce.max_actions_per_run`` (over the whole ARM reaper run) or ``max_actions_percent`` (of a
   subscription's inventoried VMs, disks, NICs, public IPs and NSGs) aborts every action: a
   ``SAFETY`` WARN finding.
4. Findings: one per resource (deduplicated across rules: L4 first, then O1..O5; the others in
   evidence ``also_matches``): FAIL (not marked / marked, deletion due at ... / due), HELD (the hold
   tag, any letter case), WARN for O5 (report-only: a stopped VM is a human decision) and for a
   resource that still carries one of our marks but matches no rule; every one with
   ``prices.arm_resource`` as its cost.
5. Actions (enforce): MARK for what the mark policies listed, DELETE_RESOURCE for what the delete
   policies listed, minus deletions that something kept still depends on (a NIC of a held VM: its
   finding says "kept for now", no action). A dry run returns them PLANNED (equal to what an
   applied run acts on). An applied run journals each intent (with the resource's JSON) BEFORE the
   c7n run that acts, runs only the acting policies, each pinned to the planned ids, then confirms:
   marks by re-reading the tag, deletes in dependency order (VMs, then NICs, then public IPs and
   NSGs, then disks; a tier waits until what it depends on is confirmed gone) by polling the
   operation c7n started (recorded by the launcher) and re-reading until ARM answers 404: DONE
   "deleted"; otherwise UNCONFIRMED "delete requested, unconfirmed: <reason>". Every outcome is
   journaled.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from custodian.c7n_runner import PolicyRunResult, run_policies
from custodian.config import Config, ReaperConfig
from custodian.model import (
    Action,
    ActionKind,
    ActionOutcome,
    ActionRecord,
    Cost,
    Finding,
    ReleaseTimeline,
    Severity,
    Status,
    Subject,
)
from custodian.pricing.table import PriceTable
from custodian.progress import Progress
from custodian.providers.azure.clients import ArmClients, ArmSettings, StaticTokenCredential
from custodian.providers.wire import CallCounter
from custodian.reaper.arm_judge import (
    TIERS,
    Candidate,
    DeletePlan,
    JudgeSettings,
    PolicyListing,
    SubscriptionJudgement,
    blockers_of,
    finding_for,
    id_key,
    judge_subscription,
    parse_mark,
    plan_deletions,
    stale_mark_finding,
    subject_of,
)
from custodian.reaper.arm_policies import PolicyCheckError, PolicySet, build_policy_set, policy_values, run_file
from custodian.reaper.arm_sdk import TYPE_KINDS, ArmReader
from custodian.rules.leftovers import completed_versions, leftover_stages
from custodian.sweeps.execute import Journal

__all__ = ["reap_arm"]

_CONFIRM_POLL_CAP_S = 10.0  # never sleep longer than this between confirmation rounds


@dataclass
class _Scope:
    """One subscription: what its inventory run found and what may be done there."""

    subscription: str
    directory: Path
    judgement: SubscriptionJudgement | None = None
    problems: list[str] = field(default_factory=list)
    marks: list[Candidate] = field(default_factory=list)
    deletes: DeletePlan = field(default_factory=lambda: DeletePlan({}, {}))
    block: str | None = None  # why nothing may be done here

    @property
    def complete(self) -> bool:
        return not self.problems and self.judgement is not None

    @property
    def scope_id(self) -> str:
        return f"/subscriptions/{self.subscription}"


@dataclass
class _Run:
    config: Config
    reaper: ReaperConfig
    run_id: str
    now: datetime
    enforce: bool
    apply: bool
    journal: Journal
    clock: Callable[[], datetime]
    progress: Progress
    prices: PriceTable
    counter: CallCounter
    reader: ArmReader
    policy_set: PolicySet
    arm_endpoint: str
    access_token: str
    ca_bundle: str | None
    timeline_complete: bool
    confirm_timeout_s: float
    c7n_retry_total: int | None = None
    c7n_retry_backoff_s: float | None = None
    fence: Callable[[], None] = lambda: None
    findings: list[Finding] = field(default_factory=list)
    records: list[ActionRecord] = field(default_factory=list)

    def settings(self, subscription: str) -> JudgeSettings:
        return JudgeSettings(
            subscription=subscription,
            hold_tag=self.reaper.hold_tag,
            mark_tag=self.reaper.mark_tag,
            mark_grace=self.reaper.mark_grace,
            version_tag_key=self.config.naming.version_tag_key,
            stage_tag_key=self.config.naming.stage_tag_key,
            orphan_disk_min_age=self.reaper.orphan_disk_min_age,
            stopped_vm_min_age=self.reaper.stopped_vm_min_age,
            now=self.now,
        )

    def c7n(self, policy_file: Path, output_dir: Path, subscription: str, **options: Any) -> PolicyRunResult:
        result = self._c7n(policy_file, output_dir, subscription, **options)
        for method, count in result.api_calls.items():  # c7n's own requests are part of the run's cost
            self.counter.add("azure", method, count)
        return result

    def _c7n(self, policy_file: Path, output_dir: Path, subscription: str, **options: Any) -> PolicyRunResult:
        return run_policies(
            policy_file,
            output_dir,
            arm_endpoint=self.arm_endpoint,
            subscription_id=subscription,
            access_token=self.access_token,
            ca_bundle=self.ca_bundle,
            timeout_s=self.reaper.c7n_timeout.total_seconds(),
            as_of=self.now,
            retry_total=self.c7n_retry_total,
            retry_backoff_s=self.c7n_retry_backoff_s,
            **options,
        )


def reap_arm(
    config: Config,
    *,
    run_id: str,
    timeline: ReleaseTimeline,
    timeline_complete: bool,
    now: datetime,
    enforce: bool,
    apply: bool,
    journal: Journal,
    clock: Callable[[], datetime],
    progress: Progress,
    counter: CallCounter,
    prices: PriceTable,
    arm_endpoint: str,
    access_token: str,
    ca_bundle: str | None,
    work_dir: Path,
    confirm_timeout_s: float = 120.0,
    c7n_retry_total: int | None = None,
    c7n_retry_backoff_s: float | None = None,
    fence: Callable[[], None] = lambda: None,
) -> tuple[list[Finding], list[ActionRecord]]:
    """Reap VMs, disks, NICs, public IPs and NSGs of every configured subscription (module docstring).

    `now` is the evaluation time (the run's start, or an audit's ``--as-of``); c7n evaluates its
    time filters and marks at it too. `work_dir` is the run's output directory: rendered policies,
    per-run values, c7n's output and the recorded delete operations go to ``work_dir/arm``.
    `timeline_complete` is False when the release timeline could not be read completely.
    `confirm_timeout_s` bounds how long a delete is polled before it is reported UNCONFIRMED.
    `c7n_retry_total` / `c7n_retry_backoff_s` tune c7n-azure's retries of a failing ARM call (None:
    its defaults, 3 retries 45 s apart, i.e. a 500 that outlasts them costs ~2 minutes per listing).
    `fence` is called before every c7n run that acts (and its intents); when it raises (the HA lease
    is lost) the exception propagates and nothing more is done. An applied run first settles the
    reaper's intents that a crashed run left without an outcome (`journal.pending_intents()`, when
    the journal has it): each resource is re-read, never acted on again.
    Returns the findings and the action records (none for an audit, PLANNED or SKIPPED for a dry
    run, journaled outcomes for an applied run).
    """
    if apply and not enforce:
        raise ValueError("only an enforce run can apply changes")
    reaper = config.reaper
    if reaper is None:
        return [], []
    now = now.astimezone(UTC)
    out = (work_dir / "arm").resolve()
    out.mkdir(parents=True, exist_ok=True)
    versions = completed_versions(timeline, reaper.leftover_grace, now)
    stages = leftover_stages(timeline)
    inputs = out / "reaper-inputs.json"
    inputs.write_text(
        json.dumps(
            {
                "completed_versions": [v.lower() for v in versions],
                "leftover_stages": [s.lower() for s in stages],
                "evaluated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "run_id": run_id,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    findings: list[Finding] = []
    if not timeline_complete:
        findings.append(_timeline_error(versions))
    try:
        policy_set = build_policy_set(
            policies_directory(reaper.policies_dir), policy_values(config, inputs.as_uri()), out / "policies"
        )
    except PolicyCheckError as exc:
        findings.append(_policy_error(exc.problems))
        return findings, []
    clients = ArmClients(
        ArmSettings(
            endpoint=arm_endpoint,
            credential=StaticTokenCredential(access_token),
            ca_bundle=ca_bundle,
            read_only=not (enforce and apply),
            polling_interval_s=1.0,
        ),
        counter,
    )
    run = _Run(
        config=config,
        reaper=reaper,
        run_id=run_id,
        now=now,
        enforce=enforce,
        apply=apply,
        journal=journal,
        clock=clock,
        progress=progress,
        prices=prices,
        counter=counter,
        reader=ArmReader(clients, arm_endpoint),
        policy_set=policy_set,
        arm_endpoint=arm_endpoint,
        access_token=access_token,
        ca_bundle=ca_bundle,
        timeline_complete=timeline_complete,
        confirm_timeout_s=confirm_timeout_s,
        c7n_retry_total=c7n_retry_total,
        c7n_retry_backoff_s=c7n_retry_backoff_s,
        fence=fence,
        findings=findings,
    )
    try:
        scopes = [_Scope(sub, out / sub) for sub in config.azure.subscriptions]
        progress.begin("reaper: Azure resources", len(scopes))
        for scope in scopes:
            _inventory(run, scope)
            _judge(run, scope)
            progress.advance(
                f"reaper {scope.subscription}: {len(scope.judgement.candidates) if scope.judgement else 0} "
                f"candidate(s), {'complete' if scope.complete else 'INCOMPLETE'}"
            )
        if enforce:
            if apply:
                _settle_crashed(run, journal)
            _gate(run, scopes)
            for scope in scopes:
                _act(run, scope)
    finally:
        clients.close()
    return run.findings, run.records


def policies_directory(configured: Path | None) -> Path:
    """`reaper.policies_dir` (made absolute when the configuration was loaded), else the shipped `policies/`."""
    if configured is None:
        return Path(__file__).resolve().parents[2] / "policies"
    return configured.resolve()


# -- inventory ------------------------------------------------------------------------------------
def _inventory(run: _Run, scope: _Scope) -> None:
    """The read-only dry run of every policy, then the independent cross-check of its listings."""
    policy_file = run_file(scope.directory / "inventory.yml", run.policy_set.policies)
    assert policy_file is not None
    result = run.c7n(
        policy_file, scope.directory / "inventory", scope.subscription, dry_run=True, read_only=True, cache="memory"
    )
    scope.problems += list(result.problems)
    listings = [
        PolicyListing(p.name, p.role, p.rule, p.kind, _resources(result, p.name)) for p in run.policy_set.policies
    ]
    settings = run.settings(scope.subscription)
    judgement = judge_subscription(listings, settings)
    scope.problems += judgement.problems
    if not result.problems:
        scope.problems += _cross_check(run, scope, judgement)
    scope.judgement = judgement


def _resources(result: PolicyRunResult, name: str) -> list[dict[str, Any]] | None:
    try:
        output = result.policy(name)
    except KeyError:
        return None
    return output.resources if output.ok else None


def _cross_check(run: _Run, scope: _Scope, judgement: SubscriptionJudgement) -> list[str]:
    """c7n's typed listings must equal the generic ARM listing, kind by kind (else: partial)."""
    try:
        generic = run.reader.list_ids(scope.subscription)
    except Exception as exc:  # noqa: BLE001 - any failure of the second listing makes the scope incomplete
        return [f"the generic ARM resource listing failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"]
    problems = []
    for kind in sorted(set(TYPE_KINDS.values())):
        c7n_ids = {k for k, v in judgement.inventory_kinds.items() if v == kind}
        arm_ids = {k for k, v in generic.items() if v == kind}
        if c7n_ids != arm_ids:
            problems.append(
                f"the {kind} listings disagree (partial inventory): c7n listed {len(c7n_ids)}, the generic ARM "
                f"listing {len(arm_ids)}; only in the generic listing: {_names(arm_ids - c7n_ids)}; "
                f"only in c7n's: {_names(c7n_ids - arm_ids)}"
            )
    return problems


def _names(ids: Iterable[str], limit: int = 5) -> str:
    names = sorted(i.rsplit("/", 1)[-1] for i in ids)
    if not names:
        return "none"
    return ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


# -- findings -------------------------------------------------------------------------------------
def _judge(run: _Run, scope: _Scope) -> None:
    judgement = scope.judgement
    settings = run.settings(scope.subscription)
    if scope.problems:
        run.findings.append(_collect_error(scope, scope.problems))
    if judgement is None:
        return
    due = [c for c in judgement.candidates.values() if c.delete_policy is not None]
    scope.deletes = plan_deletions(due)
    scope.marks = [c for c in judgement.candidates.values() if c.mark_policy is not None]
    for key, candidate in judgement.candidates.items():
        blocked = scope.deletes.blocked.get(key)
        run.findings.append(finding_for(candidate, settings, _cost(run.prices, candidate.resource), blocked=blocked))
    for resource in judgement.stale_marks:
        kind = judgement.inventory_kinds[id_key(str(resource.get("id")))]
        run.findings.append(stale_mark_finding(resource, kind, settings))


def _cost(prices: PriceTable, resource: Mapping[str, Any]) -> Cost | None:
    view = dict(resource)
    if "instanceView" in resource:  # c7n's instance-view filter puts it beside `properties`
        view["properties"] = {**(resource.get("properties") or {}), "instanceView": resource["instanceView"]}
    return prices.arm_resource(view)


def _subscription_subject(scope: _Scope) -> Subject:
    return Subject(
        provider="azure",
        kind="subscription",
        provider_name=scope.subscription,
        resource_id=scope.scope_id,
        scope=scope.scope_id,
    )


def _collect_error(scope: _Scope, problems: Sequence[str]) -> Finding:
    """One ERROR per incomplete subscription: the first problems in the message, all in evidence."""
    shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more problem(s))" if len(problems) > 3 else "")
    return Finding(
        "COLLECT",
        Status.ERROR,
        Severity.HIGH,
        _subscription_subject(scope),
        f"the reaper's inventory of subscription {scope.subscription} is incomplete: {shown}; "
        "nothing in this subscription is marked or deleted in this run",
        {"subscription": scope.subscription, "problems": "\n".join(problems), "output": str(scope.directory)},
        "Fix the cause (see the c7n output in the run's directory) and rerun.",
    )


def _timeline_error(versions: Sequence[str]) -> Finding:
    return Finding(
        "L4",
        Status.ERROR,
        Severity.HIGH,
        Subject(provider="custodian", kind="timeline", provider_name="release timeline"),
        "the release timeline could not be read completely: the L4 findings may be incomplete and no L4 leftover "
        "is marked or deleted in this run (orphans are handled as usual)",
        {"completed_versions": ",".join(versions)},
        "Fix the access to the release repositories and rerun.",
    )


def _policy_error(problems: Sequence[str]) -> Finding:
    return Finding(
        "REAPER",
        Status.ERROR,
        Severity.HIGH,
        Subject(provider="custodian", kind="policies", provider_name="reaper policies"),
        "the reaper's c7n policies failed their checks; no policy was run: " + "; ".join(problems[:10]),
        {"problems": "\n".join(problems)},
        "Fix the policy files or the configuration (reaper, naming) and rerun.",
    )


# -- gating (enforce) -----------------------------------------------------------------------------
def _gate(run: _Run, scopes: list[_Scope]) -> None:
    """Decide what may act: allowlist, completeness, timeline, caps. Refusals become SKIPPED records."""
    allowed = {s.lower() for s in run.config.enforce.allowed_subscriptions}
    for scope in scopes:
        if not scope.complete:
            scope.block = "blocked: the inventory of this subscription is incomplete (see its COLLECT error)"
        elif scope.subscription.lower() not in allowed:
            scope.block = "blocked: the subscription is not in enforce.allowed_subscriptions"
    for scope in scopes:
        # a due deletion that something kept depends on is not an action of this run (its finding says
        # "kept for now: ..."), in a dry run and an applied run alike
        if scope.block is not None:
            for action in _actions(run, scope):
                _skip(run, action, scope.block)
            scope.marks, scope.deletes = [], DeletePlan({}, scope.deletes.blocked)
            continue
        if not run.timeline_complete:
            why_l4 = "blocked: the release timeline is incomplete (see the L4 ERROR)"
            for candidate in [c for c in scope.marks if c.rule == "L4"]:
                _skip(run, _action(run, scope, candidate, ActionKind.MARK), why_l4)
            for candidate in [c for c in scope.deletes.planned.values() if c.rule == "L4"]:
                _skip(run, _action(run, scope, candidate, ActionKind.DELETE_RESOURCE), why_l4)
            scope.marks = [c for c in scope.marks if c.rule != "L4"]
            planned = {k: c for k, c in scope.deletes.planned.items() if c.rule != "L4"}
            replanned = plan_deletions(planned.values())  # dependents of a blocked L4 VM wait too
            for key in replanned.blocked:
                _skip(run, _action(run, scope, planned[key], ActionKind.DELETE_RESOURCE), why_l4)
            scope.deletes = DeletePlan(replanned.planned, {**scope.deletes.blocked, **replanned.blocked})
    total = sum(len(s.marks) + len(s.deletes.planned) for s in scopes)
    limits = run.config.enforce
    reason: str | None = None
    if total > limits.max_actions_per_run:
        reason = f"{total} reaper actions exceed enforce.max_actions_per_run={limits.max_actions_per_run}"
    for scope in scopes:
        inventoried = len(scope.judgement.inventory) if scope.judgement else 0
        acting = len(scope.marks) + len(scope.deletes.planned)
        if reason is None and acting and acting * 100 > limits.max_actions_percent * max(inventoried, 1):
            reason = (
                f"{acting} reaper actions on {inventoried} inventoried resources of subscription {scope.subscription} "
                f"exceed enforce.max_actions_percent={limits.max_actions_percent:g}"
            )
    if reason is None:
        if not run.apply:
            for scope in scopes:
                for action in _actions(run, scope):
                    run.records.append(ActionRecord(action, ActionOutcome.PLANNED, run.clock(), "dry run"))
        return
    run.findings.append(
        Finding(
            "SAFETY",
            Status.WARN,
            Severity.CRITICAL,
            Subject(provider="custodian", kind="plan", provider_name="reaper-arm"),
            f"reaper aborted before its first action: {reason}; nothing was marked or deleted",
            {"actions": str(total), "max_actions_per_run": str(limits.max_actions_per_run)},
            "Review the findings; raise the cap deliberately or reap in smaller batches.",
        )
    )
    for scope in scopes:
        for action in _actions(run, scope):
            _skip(run, action, f"blocked: {reason}")
        scope.marks, scope.deletes = [], DeletePlan({}, scope.deletes.blocked)


def _actions(run: _Run, scope: _Scope) -> list[Action]:
    marks = [_action(run, scope, c, ActionKind.MARK) for c in scope.marks]
    ordered = sorted(scope.deletes.planned.values(), key=lambda c: (_tier(c.kind), c.key))
    return marks + [_action(run, scope, c, ActionKind.DELETE_RESOURCE) for c in ordered]


def _tier(kind: str) -> int:
    return next(i for i, kinds in enumerate(TIERS) if kind in kinds)


def _action(run: _Run, scope: _Scope, candidate: Candidate, kind: ActionKind) -> Action:
    subject = subject_of(candidate.resource, candidate.kind, run.settings(scope.subscription))
    if kind is ActionKind.MARK:
        planned = (run.now + run.reaper.mark_grace).strftime("%Y-%m-%dT%H:%MZ")
        reason = f"mark for deletion at {planned} ({run.reaper.mark_tag} tag, policy {candidate.mark_policy})"
    else:
        due = candidate.due.strftime("%Y-%m-%dT%H:%MZ") if candidate.due else "?"
        reason = f"deletion was due at {due}; delete (policy {candidate.delete_policy})"
    return Action(kind, subject, candidate.rule, reason)


def _skip(run: _Run, action: Action, detail: str) -> None:
    at = run.clock()
    if run.apply:
        run.journal.journal_outcome(run.run_id, action, ActionOutcome.SKIPPED, at, detail)
    run.records.append(ActionRecord(action, ActionOutcome.SKIPPED, at, detail))


def _record(
    run: _Run, action: Action, outcome: ActionOutcome, detail: str, snapshot: Mapping[str, object]
) -> ActionRecord:
    at = run.clock()
    run.journal.journal_outcome(run.run_id, action, outcome, at, detail, snapshot)
    record = ActionRecord(action, outcome, at, detail, dict(snapshot))
    run.records.append(record)
    run.progress.advance(f"{action.kind.value} {action.subject.provider_name}: {outcome.value}")
    return record


# -- acting (enforce --apply) ---------------------------------------------------------------------
def _settle_crashed(run: _Run, journal: Journal) -> None:
    """Intents of ARM reaper actions that a crashed run left without an outcome: re-read, never redo."""
    pending = getattr(journal, "pending_intents", None)
    if not callable(pending):
        return
    for entry in pending():
        action: Action = entry.record.action
        subject = action.subject
        ours = action.kind in (ActionKind.MARK, ActionKind.DELETE_RESOURCE) and subject.provider == "azure"
        if not ours or not (subject.scope or "").startswith("/subscriptions/") or not subject.resource_id:
            continue
        try:
            state = run.reader.get(subject.resource_id)
        except Exception as exc:  # noqa: BLE001 - reported; the current plan decides what to do next
            detail = f"taken by crashed run {entry.run_id}; the re-read failed ({type(exc).__name__})"
            _record(run, action, ActionOutcome.UNCONFIRMED, detail, {})
            continue
        if action.kind is ActionKind.DELETE_RESOURCE:
            done = state is None
        else:
            done = state is not None and parse_mark(state.tags.get(run.reaper.mark_tag)) is not None
        detail = f"taken by crashed run {entry.run_id}; " + ("confirmed by re-read" if done else "not in effect")
        _record(run, action, ActionOutcome.DONE if done else ActionOutcome.UNCONFIRMED, detail, {})


def _act(run: _Run, scope: _Scope) -> None:
    if not run.apply or (not scope.marks and not scope.deletes.planned):
        return
    run.progress.begin(f"reaper actions in {scope.subscription}", len(scope.marks) + len(scope.deletes.planned))
    if scope.marks:
        _mark(run, scope)
    if scope.deletes.planned:
        _delete(run, scope)


def _intents(run: _Run, scope: _Scope, candidates: Sequence[Candidate], kind: ActionKind) -> dict[str, Action]:
    run.fence()  # the c7n run that acts follows right after these intents
    actions = {}
    for candidate in candidates:
        action = _action(run, scope, candidate, kind)
        run.journal.journal_intent(run.run_id, action, run.clock(), candidate.resource)
        actions[candidate.key] = action
    return actions


def _acted(run: _Run, result: PolicyRunResult, names: Iterable[str]) -> set[str]:
    acted: set[str] = set()
    for name in names:
        resources = _resources(result, name)
        acted.update(id_key(str(r.get("id", ""))) for r in resources or [])
    return acted


def _run_failed(run: _Run, scope: _Scope, what: str, result: PolicyRunResult) -> None:
    run.findings.append(
        Finding(
            "REAPER",
            Status.ERROR,
            Severity.HIGH,
            _subscription_subject(scope),
            f"the c7n run that {what} in subscription {scope.subscription} failed: {'; '.join(result.problems)}; "
            "each of its resources was re-read to report what happened",
            {
                "subscription": scope.subscription,
                "problems": "\n".join(result.problems),
                "policy_file": str(result.policy_file),
            },
            "See the c7n output in the run's directory and rerun.",
        )
    )


def _mark(run: _Run, scope: _Scope) -> None:
    actions = _intents(run, scope, scope.marks, ActionKind.MARK)
    pinned: dict[str, list[str]] = {}
    for candidate in scope.marks:
        assert candidate.mark_policy is not None
        pinned.setdefault(candidate.mark_policy, []).append(candidate.resource_id)
    policies = run.policy_set.with_role("mark")
    policy_file = run_file(scope.directory / "mark.yml", policies, pinned=pinned)
    assert policy_file is not None
    run.fence()
    result = run.c7n(policy_file, scope.directory / "mark", scope.subscription)
    if not result.ok:
        _run_failed(run, scope, "marks resources", result)
    acted = _acted(run, result, pinned)
    for candidate in scope.marks:
        action = actions[candidate.key]
        try:
            state = run.reader.get(candidate.resource_id)
        except Exception as exc:  # noqa: BLE001 - reported as unconfirmed
            _record(
                run,
                action,
                ActionOutcome.UNCONFIRMED,
                f"marked, unconfirmed: re-read failed: {exc}",
                candidate.resource,
            )
            continue
        due = parse_mark(state.tags.get(run.reaper.mark_tag)) if state is not None else None
        if state is None:
            _record(run, action, ActionOutcome.SKIPPED, "the resource is gone; nothing to mark", candidate.resource)
        elif due is not None:
            detail = f"marked: deletion due at {due.strftime('%Y-%m-%dT%H:%M:%SZ')}"
            _record(run, action, ActionOutcome.DONE, detail, candidate.resource)
        elif candidate.key not in acted:
            detail = "not marked: c7n no longer matched it when the mark ran (a hold or a tag changed)"
            _record(run, action, ActionOutcome.SKIPPED, detail, candidate.resource)
        else:
            detail = f"marked, unconfirmed: the re-read shows no readable {run.reaper.mark_tag} tag"
            _record(run, action, ActionOutcome.UNCONFIRMED, detail, candidate.resource)


def _delete(run: _Run, scope: _Scope) -> None:
    gone: set[str] = set()
    for index, kinds in enumerate(TIERS):
        tier = [c for c in scope.deletes.planned.values() if c.kind in kinds]
        if not tier:
            continue
        ready = []
        for candidate in sorted(tier, key=lambda c: c.key):
            waiting = _waiting_for(run, candidate, gone)
            if waiting:
                action = _action(run, scope, candidate, ActionKind.DELETE_RESOURCE)
                _record(run, action, ActionOutcome.SKIPPED, f"kept for now: {waiting}", candidate.resource)
            else:
                ready.append(candidate)
        if not ready:
            continue
        actions = _intents(run, scope, ready, ActionKind.DELETE_RESOURCE)
        pinned: dict[str, list[str]] = {}
        for candidate in ready:
            assert candidate.delete_policy is not None
            pinned.setdefault(candidate.delete_policy, []).append(candidate.resource_id)
        name = f"delete-{index + 1}-{'-'.join(kinds)}"
        policy_file = run_file(scope.directory / f"{name}.yml", run.policy_set.with_role("delete"), pinned=pinned)
        assert policy_file is not None
        operations_file = scope.directory / f"{name}.operations.jsonl"
        operations_file.unlink(missing_ok=True)
        run.fence()
        result = run.c7n(policy_file, scope.directory / name, scope.subscription, record_operations=operations_file)
        if not result.ok:
            _run_failed(run, scope, f"deletes {', '.join(kinds)} resources", result)
        acted = _acted(run, result, pinned)
        confirmed = _confirm_deletes(run, scope, ready, actions, acted, _operations(operations_file))
        gone.update(confirmed)


def _waiting_for(run: _Run, candidate: Candidate, gone: set[str]) -> str | None:
    """Why `candidate` must wait (a blocker still exists), or None when everything it needs is gone."""
    for blocker in blockers_of(candidate.kind, candidate.resource):
        if blocker.resource_id is None:
            return blocker.reason
        key = id_key(blocker.resource_id)
        if key in gone:
            continue
        try:
            state = run.reader.get(blocker.resource_id)
        except Exception as exc:  # noqa: BLE001 - cannot prove it is gone: wait
            return f"{blocker.reason}, which could not be re-read ({type(exc).__name__})"
        if state is not None:
            return f"{blocker.reason}, which still exists (its deletion is not confirmed)"
        gone.add(key)
    return None


def _operations(path: Path) -> dict[str, dict[str, Any]]:
    """The launcher's record of DELETE responses, by resource id (lower case)."""
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        url = str(entry.get("url") or "")
        resource = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        out[id_key("/" + resource)] = entry
    return out


@dataclass
class _Pending:
    candidate: Candidate
    action: Action
    operation_url: str | None
    location_style: bool
    operation_done: bool = False
    operation_error: str | None = None
    last_state: str | None = None


def _confirm_deletes(
    run: _Run,
    scope: _Scope,
    ready: Sequence[Candidate],
    actions: Mapping[str, Action],
    acted: set[str],
    operations: Mapping[str, dict[str, Any]],
) -> set[str]:
    """Poll each delete's operation and re-read until ARM answers 404; returns the confirmed ids."""
    gone: set[str] = set()
    pending: list[_Pending] = []
    for candidate in ready:
        action = actions[candidate.key]
        entry = operations.get(candidate.key)
        http_status = int(entry.get("status") or 0) if entry else 0
        if entry is not None and http_status >= 400:
            code, message = entry.get("error_code"), entry.get("error_message")
            detail = f"delete refused by ARM: HTTP {http_status} {code}: {message}"
            _record(run, action, ActionOutcome.FAILED, detail, candidate.resource)
            continue
        if entry is None and candidate.key not in acted:
            if _still_there(run, candidate.resource_id) is None:
                gone.add(candidate.key)
                _record(
                    run, action, ActionOutcome.DONE, "deleted (already gone when the delete ran)", candidate.resource
                )
            else:
                detail = "not deleted: c7n no longer matched it when the delete ran (a hold, a tag or its mark changed)"
                _record(run, action, ActionOutcome.SKIPPED, detail, candidate.resource)
            continue
        url = (entry or {}).get("azure_async_operation") or (entry or {}).get("location")
        location_style = not (entry or {}).get("azure_async_operation")
        if url and not run.reader.follows(str(url)):
            url = None
        pending.append(_Pending(candidate, action, str(url) if url else None, location_style))
    deadline = time.monotonic() + run.confirm_timeout_s
    while pending:
        delay = 1.0
        still: list[_Pending] = []
        for item in pending:
            if item.operation_url and not item.operation_done:
                try:
                    status = run.reader.poll(scope.subscription, item.operation_url, location_style=item.location_style)
                except Exception as exc:  # noqa: BLE001 - fall back to re-reading the resource
                    item.operation_done, item.operation_error = True, f"polling failed: {type(exc).__name__}"
                else:
                    delay = max(delay, status.retry_after_s or 0.0)
                    if status.done:
                        item.operation_done = True
                        if not status.succeeded:
                            item.operation_error = f"the operation ended {status.status}: {status.error or 'no detail'}"
                    else:
                        still.append(item)
                        continue
            state = _still_there(run, item.candidate.resource_id)
            if state is None:
                gone.add(item.candidate.key)
                _record(run, item.action, ActionOutcome.DONE, "deleted", item.candidate.resource)
                continue
            item.last_state = state
            if item.operation_error and item.operation_done:
                detail = f"delete requested, unconfirmed: {item.operation_error}"
                _record(run, item.action, ActionOutcome.UNCONFIRMED, detail, item.candidate.resource)
                continue
            still.append(item)
        pending = still
        if not pending:
            break
        if time.monotonic() + min(delay, _CONFIRM_POLL_CAP_S) > deadline:
            for item in pending:
                why = (
                    "its operation is still in progress"
                    if item.operation_url and not item.operation_done
                    else f"still present (provisioningState {item.last_state or 'unknown'})"
                )
                detail = f"delete requested, unconfirmed: {why} after {run.confirm_timeout_s:g}s"
                _record(run, item.action, ActionOutcome.UNCONFIRMED, detail, item.candidate.resource)
            break
        time.sleep(min(delay, _CONFIRM_POLL_CAP_S))
    return gone


def _still_there(run: _Run, resource_id: str) -> str | None:
    """None when ARM answers 404; otherwise its provisioning state (a failed re-read never counts as gone)."""
    try:
        state = run.reader.get(resource_id)
    except Exception as exc:  # noqa: BLE001 - unknown is not gone
        return f"unknown: the re-read failed ({type(exc).__name__})"
    if state is None:
        return None
    return state.provisioning_state or "unknown"
