"""Rules L1-L3, H1, N1, N2 for service accounts: pure functions of (inventory, now, settings).

- L1 stage hand-off: accounts of (V, S) are disabled and hold no working credential once a later
  stage of V has started (its tag appeared), after the hand-off grace.
- L2 prod revocation: (V, last stage) accounts likewise once V's production deployment succeeded
  (after the revocation grace).
- L3 retention: no account of V exists once the retention after V's successful production
  deployment has passed.
- H1 credential hygiene: a credential without expiry, or living longer than allowed, is a WARN.
- N1 a service-account-looking name that does not parse or names an unknown version; N2 an account
  of a stage that never started.

Each finding comes as a `Verdict` with the actions that would fix it (L1/L2: disable and
invalidate; L3: delete), none before its due time. Holds are not read here: the engine's gate bars
deletion (L3) of a held account and lets revocation (L1/L2) through, for every part alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from custodian.model import (
    Action,
    ActionKind,
    CredentialKind,
    Finding,
    Inventory,
    ServiceAccount,
    Severity,
    StageStart,
    Status,
    Subject,
    Verdict,
)
from custodian.rules.naming import AccountNamer, NameProblem, ParsedAccount
from custodian.rules.release_tags import KnownVersions


@dataclass(frozen=True)
class LifecycleSettings:
    namer: AccountNamer
    handoff_grace: timedelta = timedelta(hours=1)
    prod_revocation_grace: timedelta = timedelta(hours=1)
    retention: timedelta = timedelta(hours=24)
    max_credential_lifetime: timedelta = timedelta(days=30)
    github_mode: str = "enterprise-server"

    @property
    def stages(self) -> tuple[str, ...]:
        return self.namer.stages


def iso(when: datetime | None) -> str | None:
    """UTC ISO 8601 to the second (`2026-11-26T08:00:00Z`), as people read evidence."""
    return None if when is None else when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def subject_of(account: ServiceAccount, parsed: ParsedAccount | None = None) -> Subject:
    return Subject(
        provider=account.provider.value,
        kind=account.resource_kind.value,
        provider_name=account.provider_name,
        logical_name=parsed.logical_name if parsed else None,
        version=parsed.version if parsed else None,
        stage=parsed.stage if parsed else None,
        resource_id=account.resource_id,
        scope=account.unit,
    )


def _credential_summary(account: ServiceAccount, now: datetime) -> str:
    working = [c for c in account.credentials if c.working_at(now)]
    if not working:
        return "none"
    return "; ".join(f"{c.kind.value}:{c.name} (expires {iso(c.expires_at) or 'never'})" for c in working)


def _revoked(account: ServiceAccount, now: datetime) -> bool:
    return not account.enabled and not any(c.working_at(now) for c in account.credentials)


def _state_evidence(account: ServiceAccount, now: datetime) -> dict[str, str | None]:
    return {
        "enabled": str(account.enabled).lower(),
        "working_credentials": _credential_summary(account, now),
        "evaluated_at": iso(now),
    }


def _disable_remediation(account: ServiceAccount) -> str:
    if account.kind.value == "acr":
        return "Disable the ACR token and delete its passwords (`release-custodian enforce --apply`)."
    return (
        "Suspend the GitHub machine account and revoke its tokens, PAT grants and SSH keys "
        "(`release-custodian enforce --apply`)."
    )


def proposals(
    rule: str, account: ServiceAccount, subject: Subject, mode: str, due: datetime | None
) -> tuple[Action, ...]:
    """The steps that make `account` comply with `rule` (L3 deletes; L1/L2 disable and invalidate)."""
    gh = account.kind.value == "gh"
    if rule == "L3":
        if gh and mode == "organization":  # a GitHub App cannot delete a github.com user
            kinds = [ActionKind.REVOKE_PAT_GRANTS, ActionKind.REMOVE_MEMBERSHIP]
        else:
            kinds = [ActionKind.DELETE_ACCOUNT]
    else:
        kinds = []
        if account.enabled:
            kinds.append(ActionKind.REMOVE_MEMBERSHIP if gh and mode == "organization" else ActionKind.DISABLE)
        present = {c.kind for c in account.credentials}
        if CredentialKind.ACR_PASSWORD in present:
            kinds.append(ActionKind.REMOVE_CREDENTIALS)
        if CredentialKind.PAT_GRANT in present:
            kinds.append(ActionKind.REVOKE_PAT_GRANTS)
        if CredentialKind.SSH_KEY in present and mode != "organization":
            kinds.append(ActionKind.DELETE_SSH_KEYS)
        if gh and mode == "enterprise-server":
            kinds.append(ActionKind.DELETE_IMPERSONATION_TOKENS)  # not listable on GHES: always invalidate
    return tuple(
        Action(
            kind,
            subject,
            rule,
            f"{rule} FAIL",
            account.scope,
            account.resource_kind,
            account.key,
            not_before=due,
        )
        for kind in kinds
    )


@dataclass(frozen=True)
class _Judged:
    finding: Finding
    due: datetime | None = None  # when the finding's fix became due (FAIL findings)


class _AccountRules:
    """Evaluates one parsed account; small methods, one per rule."""

    def __init__(self, settings: LifecycleSettings, inventory: Inventory, now: datetime) -> None:
        self.settings = settings
        self.timeline = inventory.timeline
        self.now = now

    def _revocation(
        self,
        rule: str,
        severity: Severity,
        account: ServiceAccount,
        parsed: ParsedAccount,
        trigger: tuple[datetime, str, dict[str, str | None]] | None,
        not_due: str,
        grace: timedelta,
    ) -> _Judged:
        """L1 and L2 share one shape: not triggered, within grace, revoked, or FAIL.

        `trigger` is (when it happened, how to say it, its evidence) or None when it has not.
        """
        subject = subject_of(account, parsed)
        evidence = _state_evidence(account, self.now)
        if trigger is None:
            message = f"{parsed.logical_name}: not due, {not_due}"
            return _Judged(Finding(rule, Status.PASS, Severity.INFO, subject, message, evidence))
        at, happened, trigger_evidence = trigger
        due = at + grace
        evidence |= trigger_evidence | {"due_at": iso(due)}
        if self.now < due:
            message = f"{parsed.logical_name}: within the grace period; must be revoked by {iso(due)}"
            return _Judged(Finding(rule, Status.PASS, Severity.INFO, subject, message, evidence))
        if _revoked(account, self.now):
            message = f"{parsed.logical_name}: disabled, no working credential"
            return _Judged(Finding(rule, Status.PASS, Severity.INFO, subject, message, evidence))
        state = "enabled" if account.enabled else "holding working credentials"
        message = f"{parsed.logical_name} is still {state} although {happened}"
        return _Judged(
            Finding(rule, Status.FAIL, severity, subject, message, evidence, _disable_remediation(account)), due
        )

    def handoff(self, account: ServiceAccount, parsed: ParsedAccount) -> _Judged | None:
        next_stage = self.timeline.next_stage(parsed.stage)
        if next_stage is None:
            return None
        start = self._later_stage_start(parsed)
        trigger = None
        if start is not None:
            evidence = {
                "next_stage": start.stage,
                "next_stage_started_at": iso(start.at),
                "evidence_source": start.source,
                "start_evidence": start.evidence.value,
            }
            trigger = (start.at, f"stage {start.stage} of {parsed.version} started at {iso(start.at)}", evidence)
        not_due = f"stage {next_stage} of {parsed.version} has not started"
        return self._revocation("L1", Severity.HIGH, account, parsed, trigger, not_due, self.settings.handoff_grace)

    def _later_stage_start(self, parsed: ParsedAccount) -> StageStart | None:
        """The earliest start of any stage after the account's (a skipped stage still hands off)."""
        stages = self.settings.stages
        later = stages[stages.index(parsed.stage) + 1 :]
        starts = [s for s in (self.timeline.stage_started(parsed.version, st) for st in later) if s is not None]
        return min(starts, key=lambda s: s.at) if starts else None

    def prod_revocation(self, account: ServiceAccount, parsed: ParsedAccount) -> _Judged | None:
        if parsed.stage != self.settings.stages[-1]:
            return None
        deployment = self.timeline.prod_success(parsed.version)
        trigger = None
        if deployment is not None and deployment.first_success_at is not None:
            success = deployment.first_success_at
            evidence = {"deployment_id": str(deployment.deployment_id), "production_success_at": iso(success)}
            happened = f"{parsed.version} was deployed to production successfully at {iso(success)}"
            trigger = (success, happened, evidence)
        not_due = f"no successful production deployment of {parsed.version} yet"
        return self._revocation(
            "L2", Severity.CRITICAL, account, parsed, trigger, not_due, self.settings.prod_revocation_grace
        )

    def retention(self, account: ServiceAccount, parsed: ParsedAccount) -> _Judged:
        subject = subject_of(account, parsed)
        deployment = self.timeline.prod_success(parsed.version)
        evidence: dict[str, str | None] = {"evaluated_at": iso(self.now)}
        if deployment is None or deployment.first_success_at is None:
            message = f"{parsed.logical_name}: retained, no successful production deployment of {parsed.version} yet"
            return _Judged(Finding("L3", Status.PASS, Severity.INFO, subject, message, evidence))
        success = deployment.first_success_at
        due = success + self.settings.retention
        evidence |= {
            "deployment_id": str(deployment.deployment_id),
            "production_success_at": iso(success),
            "delete_due_at": iso(due),
        }
        if self.now < due:
            message = f"{parsed.logical_name}: retained until {iso(due)}"
            return _Judged(Finding("L3", Status.PASS, Severity.INFO, subject, message, evidence))
        message = (
            f"{parsed.logical_name} still exists {_hours(self.now - success)} after {parsed.version}'s "
            f"successful production deployment (retention {_hours(self.settings.retention)})"
        )
        remediation = "Delete the account (`release-custodian enforce --apply`), or place a hold if it must stay."
        return _Judged(Finding("L3", Status.FAIL, Severity.MEDIUM, subject, message, evidence, remediation), due)

    def hygiene(self, account: ServiceAccount, subject: Subject) -> Finding:
        limit = self.settings.max_credential_lifetime
        problems = []
        for cred in account.credentials:
            if not cred.working_at(self.now) or cred.kind is CredentialKind.SSH_KEY:
                continue  # SSH keys have no expiry on GitHub: H1 is about tokens and passwords
            if cred.expires_at is None:
                problems.append(f"{cred.kind.value}:{cred.name} never expires")
            elif cred.expires_at - (cred.created_at or self.now) > limit:
                problems.append(f"{cred.kind.value}:{cred.name} lives until {iso(cred.expires_at)} (> {limit.days}d)")
        evidence: dict[str, str | None] = {"max_credential_lifetime_days": str(limit.days)}
        name = subject.logical_name or subject.provider_name
        if not problems:
            return Finding("H1", Status.PASS, Severity.INFO, subject, f"{name}: credentials expire in time", evidence)
        evidence["problems"] = "; ".join(problems)
        return Finding(
            "H1",
            Status.WARN,
            Severity.LOW,
            subject,
            f"{name}: " + "; ".join(problems),
            evidence,
            f"Issue credentials with an expiry within {limit.days} days of creation.",
        )


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f}h" if hours < 72 else f"{hours / 24:.1f}d"


def evaluate_accounts(inventory: Inventory, now: datetime, settings: LifecycleSettings) -> list[Verdict]:
    """Every lifecycle verdict for the inventory's accounts at `now` (time is passed in, never read)."""
    verdicts: list[Verdict] = []
    known = KnownVersions(inventory.timeline.versions())  # indexed once: each account's parse is a lookup
    rules = _AccountRules(settings, inventory, now)
    for account in inventory.accounts:
        parsed = settings.namer.parse_account(account.provider_name, known, account.display_name)
        if isinstance(parsed, NameProblem):
            verdicts.append(Verdict(_name_problem(account, parsed), account.key))
            continue
        subject = subject_of(account, parsed)
        if inventory.timeline.stage_started(parsed.version, parsed.stage) is None:
            finding = Finding(
                "N2",
                Status.WARN,
                Severity.HIGH,
                subject,
                f"{parsed.logical_name} exists but stage {parsed.stage} of {parsed.version} never started",
                _state_evidence(account, now),
                "Find out who created it; delete it if it is not part of a release.",
            )
            verdicts.append(Verdict(finding, account.key))
        judged = [j for j in (rules.handoff(account, parsed), rules.prod_revocation(account, parsed)) if j]
        judged.append(rules.retention(account, parsed))
        for one in judged:
            actions: tuple[Action, ...] = ()
            if one.finding.status is Status.FAIL:
                actions = proposals(one.finding.rule, account, subject, settings.github_mode, one.due)
            verdicts.append(Verdict(one.finding, account.key, actions))
        verdicts.append(Verdict(rules.hygiene(account, subject), account.key))
    return verdicts


def _name_problem(account: ServiceAccount, problem: NameProblem) -> Finding:
    subject = Subject(
        provider=account.provider.value,
        kind=account.resource_kind.value,
        provider_name=account.provider_name,
        stage=problem.stage,
        resource_id=account.resource_id,
        scope=account.unit,
    )
    return Finding(
        "N1",
        Status.WARN,
        Severity.MEDIUM,
        subject,
        problem.reason,
        {"display_name": account.display_name, "enabled": str(account.enabled).lower()},
        "Rename the account to the naming template or record its logical name; the custodian will not act on it.",
    )
