"""The blob half of the reaper: rules L4 and O6 on the Azure Blob data plane, reaped in two phases.

For each storage account of `reaper.storage_accounts` (connection string from its `SecretRef`, or
account URL with an Entra ID credential):

1. Inventory, streamed page by page (memory stays flat: only candidates are kept, never a listing):
   - `L4`: blobs whose index tags name a completed version (`naming.version_tag_key`) and a
     leftover stage (`naming.stage_tag_key`), found with Find Blobs by Tags, one query per
     (version, stage) pair and configured container (or account-wide when no container is
     configured). Azurite returns only the queried tags, so each match is re-read (properties
     and all its tags) before it is judged.
   - `O6`: blobs of the containers listed as ephemeral whose last-modified time is older than
     `stale_blob_age` (a blob that is both is reported once, as L4, with `also_matches: O6`).
   Any failure of a listing or query (a missing configured container, a 5xx that outlasts the
   retries, a page cut short) is an ERROR finding for the account and blocks every mutation in it.
2. Judgement per candidate: the hold tag (`reaper.hold_tag`) wins: HELD, never marked or deleted.
   Otherwise FAIL, and the mark tag (`reaper.mark_tag`, the planned deletion time in ISO 8601
   UTC) decides the action: no valid mark -> MARK (now + `mark_grace`); a mark not yet due ->
   nothing; a due mark -> DELETE_RESOURCE (with snapshots). A mark older than the blob's last
   modification (the blob was rewritten after it was marked) or unreadable is no mark: the blob is
   marked again, never deleted on its strength. Each finding carries `prices.blob(size, tier)`.
3. Actions (enforce only). A dry run returns them PLANNED: the same set an applied run acts on.
   An applied run re-reads each blob, journals the intent (with a snapshot of the blob), acts,
   re-reads to confirm and journals the outcome: a mark is DONE when the re-read shows it, a delete
   when `get_blob_properties` answers 404 BlobNotFound. Deletes are conditional on the blob's ETag
   and on the mark tag still holding the value that was judged due.

Clients are read-only on the wire unless the run is an applied enforce (`BlobSettings.read_only`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import TokenCredential

from custodian.config import Config, ConfigError, ReaperConfig, StorageAccountConfig
from custodian.model import (
    Action,
    ActionKind,
    ActionOutcome,
    ActionRecord,
    Finding,
    Severity,
    Status,
    Subject,
)
from custodian.pricing.table import PriceTable
from custodian.progress import Progress
from custodian.providers.azure.blobs import (
    BlobAccount,
    BlobFacts,
    BlobSettings,
    TagQueryError,
    redact,
    tag_equals,
    where_clause,
)
from custodian.providers.wire import CallCounter
from custodian.sweeps.execute import Journal

L4 = "L4"
O6 = "O6"
_RULE_TEXT = {
    L4: "QA/UAT leftover: its version is in production",
    O6: "stale blob in an ephemeral container",
}


def format_due(moment: datetime) -> str:
    """The mark tag's value: ISO 8601 UTC to the second, e.g. `2026-12-03T08:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_due(value: str) -> datetime | None:
    """A mark tag's time, or None when it is not an ISO 8601 time (a naive time is taken as UTC)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else format_due(moment)


@dataclass(frozen=True)
class _Rules:
    reaper: ReaperConfig
    version_key: str
    stage_key: str
    now: datetime

    @property
    def stale_before(self) -> datetime:
        return self.now - self.reaper.stale_blob_age

    def mark_due(self, facts: BlobFacts) -> datetime | None:
        """The blob's valid planned deletion time, or None (no mark, unreadable, or older than the blob)."""
        raw = facts.tags.get(self.reaper.mark_tag)
        due = parse_due(raw) if raw else None
        if due is None:
            return None
        marked_at = due - self.reaper.mark_grace
        if facts.last_modified is not None and facts.last_modified > marked_at:
            return None  # rewritten after it was marked: the mark no longer speaks for this content
        return due

    def still_candidate(self, rule: str, facts: BlobFacts, version: str | None, stage: str | None) -> bool:
        if rule == L4:
            return facts.tags.get(self.version_key) == version and facts.tags.get(self.stage_key) == stage
        return facts.last_modified is not None and facts.last_modified <= self.stale_before


@dataclass
class _Candidate:
    facts: BlobFacts
    rule: str
    also: list[str] = field(default_factory=list)


@dataclass
class _Account:
    config: StorageAccountConfig
    client: BlobAccount | None = None
    candidates: dict[tuple[str, str], _Candidate] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (rule, message)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def complete(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class _Judged:
    finding: Finding
    action: Action | None
    candidate: _Candidate


def sweep_blobs(
    config: Config,
    *,
    run_id: str,
    completed_versions: Sequence[str],
    leftover_stages: Sequence[str],
    now: datetime,
    enforce: bool,
    apply: bool,
    journal: Journal,
    clock: Callable[[], datetime],
    progress: Progress,
    counter: CallCounter,
    prices: PriceTable,
    settings: BlobSettings | None = None,
    credential: TokenCredential | None = None,
    fence: Callable[[], None] = lambda: None,
) -> tuple[list[Finding], list[ActionRecord]]:
    """Inventory, judge and (enforce) act on the blobs of every configured storage account.

    Returns the findings (L4, O6, ERROR per incomplete account, SAFETY when a cap aborts) and the
    action records: none for an audit, PLANNED (or SKIPPED) for a dry run, journaled outcomes for
    an applied run. `settings` tunes retries and paging; its `read_only` is decided here. The
    account-URL form uses `credential` (default: azure-identity's DefaultAzureCredential).
    `fence` is called before each mutation; when it raises (the HA lease is lost, the service is
    stopping), that action and the rest are journaled SKIPPED with its message.
    """
    if apply and not enforce:
        raise ValueError("only an enforce run can apply changes")
    reaper = config.reaper
    if reaper is None or not reaper.storage_accounts:
        return [], []
    now = now.astimezone(UTC)
    rules = _Rules(reaper, config.naming.version_tag_key, config.naming.stage_tag_key, now)
    wire = replace(settings or BlobSettings(), read_only=not (enforce and apply))

    accounts = [_Account(a) for a in reaper.storage_accounts]
    findings: list[Finding] = []
    judged: list[tuple[_Account, _Judged]] = []
    try:
        for account in accounts:
            _open(account, wire, counter, credential)
            if account.client is not None:
                _inventory_l4(account, rules, completed_versions, leftover_stages, progress)
                _inventory_o6(account, rules, progress)
            for candidate in account.candidates.values():
                one = _judge(account.name, candidate, rules, prices)
                findings.append(one.finding)
                judged.append((account, one))
            findings += _error_findings(account)
            progress.note(
                f"blob sweep {account.name}: {len(account.candidates)} candidate(s), "
                f"{'complete' if account.complete else 'INCOMPLETE'}"
            )
        if not enforce:
            return findings, []
        records = _act(
            judged, rules, apply, run_id, journal, clock, progress, config.enforce.max_actions_per_run, findings, fence
        )
        return findings, records
    finally:
        for account in accounts:
            if account.client is not None:
                account.client.close()


# -- inventory ---------------------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # StorageErrorCode is an enum of the service's codes
    text = str(exc).splitlines()[0] if str(exc) else ""
    return redact(f"{type(exc).__name__}{f' {code}' if code else ''}: {text}".strip())


def _open(account: _Account, wire: BlobSettings, counter: CallCounter, credential: TokenCredential | None) -> None:
    cfg = account.config
    try:
        if cfg.connection_string is not None:
            account.client = BlobAccount.from_connection_string(
                cfg.name, cfg.connection_string.resolve(), wire, counter
            )
        else:
            assert cfg.account_url is not None
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            account.client = BlobAccount.from_account_url(cfg.name, cfg.account_url, credential, wire, counter)
    except ConfigError as exc:
        account.errors.append((L4, f"cannot connect: {'; '.join(exc.problems)}"))
    except Exception as exc:  # noqa: BLE001 - a malformed connection string or URL: reported, fails closed
        account.errors.append((L4, f"cannot connect: {_describe(exc)}"))


def _inventory_l4(
    account: _Account, rules: _Rules, versions: Sequence[str], stages: Sequence[str], progress: Progress
) -> None:
    client = account.client
    assert client is not None
    containers: list[str | None] = list(account.config.containers) if account.config.containers else [None]
    failed: set[str | None] = set()  # a container whose query failed is not queried again this run
    for version in versions:
        for stage in stages:
            try:
                where = where_clause({rules.version_key: version, rules.stage_key: stage})
            except TagQueryError as exc:
                account.errors.append((L4, f"cannot query {version}/{stage}: {exc}"))
                continue
            for container in containers:
                if container in failed:
                    continue
                where_text = f"container {container}" if container else "account-wide"
                found = 0
                try:
                    for page in client.find_by_tags(where, container):
                        for match in page:
                            key = (match.container, match.name)
                            if key in account.candidates:
                                continue
                            facts = client.read(match.container, match.name)
                            if facts is None or not rules.still_candidate(L4, facts, version, stage):
                                continue  # deleted or re-tagged since the query
                            account.candidates[key] = _Candidate(facts, L4)
                            found += 1
                except Exception as exc:  # noqa: BLE001 - an incomplete inventory: ERROR, blocks the account
                    account.errors.append((L4, f"{where_text}, tags {version}/{stage}: {_describe(exc)}"))
                    failed.add(container)
                    continue
                progress.note(f"blob sweep {account.name}: L4 {version}/{stage} {where_text}: {found} blob(s)")


def _inventory_o6(account: _Account, rules: _Rules, progress: Progress) -> None:
    client = account.client
    assert client is not None
    cutoff = rules.stale_before
    for container in account.config.ephemeral_containers:
        listed = stale = 0
        try:
            for page in client.list_pages(container):
                listed += len(page)
                for facts in page:
                    if facts.last_modified is None or facts.last_modified > cutoff:
                        continue
                    key = (facts.container, facts.name)
                    if key in account.candidates:
                        account.candidates[key].also.append(O6)
                        continue
                    account.candidates[key] = _Candidate(facts, O6)
                    stale += 1
        except Exception as exc:  # noqa: BLE001 - an incomplete inventory: ERROR, blocks the account
            account.errors.append(
                (O6, f"container {container}: listing failed after {listed} blob(s): {_describe(exc)}")
            )
            continue
        progress.note(f"blob sweep {account.name}: O6 {container}: {listed} listed, {stale} stale")


# -- judgement ---------------------------------------------------------------------------------------


def _subject(account: str, facts: BlobFacts, rules: _Rules) -> Subject:
    return Subject(
        provider="azure",
        kind="blob",
        provider_name=facts.path,
        version=facts.tags.get(rules.version_key),
        stage=facts.tags.get(rules.stage_key),
        resource_id=facts.url,
        scope=account,
    )


def _judge(account: str, candidate: _Candidate, rules: _Rules, prices: PriceTable) -> _Judged:
    facts = candidate.facts
    reaper = rules.reaper
    subject = _subject(account, facts, rules)
    rule = candidate.rule
    what = f"{_RULE_TEXT[rule]}"
    if rule == L4:
        what = f"{subject.version} {subject.stage} blob remains ({_RULE_TEXT[L4]})"
    elif facts.last_modified is not None:
        age = rules.now - facts.last_modified
        what = f"{_RULE_TEXT[O6]}: last modified {age.days}d ago (limit {reaper.stale_blob_age.days}d)"
    raw_mark = facts.tags.get(reaper.mark_tag)
    due = rules.mark_due(facts)
    evidence: dict[str, str | None] = {
        "account": account,
        "container": facts.container,
        "size_bytes": str(facts.size),
        "tier": facts.tier or "Hot",
        "last_modified": _iso(facts.last_modified),
        "tags": json.dumps(dict(facts.tags), sort_keys=True, separators=(",", ":")),
        "mark": raw_mark,
        "deletion_due": _iso(due),
    }
    if candidate.also:
        evidence["also_matches"] = ",".join(candidate.also)
    cost = prices.blob(facts.size, facts.tier)
    hold = facts.tags.get(reaper.hold_tag)
    if hold is not None:
        evidence["hold"] = hold
        finding = Finding(
            rule,
            Status.HELD,
            Severity.INFO,
            subject,
            f"{what}; protected by the hold tag {reaper.hold_tag}={hold!r}: never marked or deleted",
            evidence,
            f"Remove the {reaper.hold_tag} tag once the blob may be reaped.",
            cost,
        )
        return _Judged(finding, None, candidate)

    severity = Severity.MEDIUM if rule == L4 else Severity.LOW
    remediation = "Delete the blob (and its snapshots), or tag it with the hold tag to keep it."
    action: Action | None
    if due is None:
        planned = format_due(rules.now + reaper.mark_grace)
        note = "" if raw_mark is None else f" (its mark {raw_mark!r} is unreadable or older than the blob)"
        message = f"{what}; not marked{note}: enforce marks it for deletion at {planned}"
        action = Action(ActionKind.MARK, subject, rule, f"mark for deletion at {planned} ({reaper.mark_tag} tag)")
    elif due > rules.now:
        message = f"{what}; marked: deletion due at {format_due(due)}"
        action = None
    else:
        message = f"{what}; marked: deletion due at {format_due(due)} (passed): enforce deletes it with its snapshots"
        action = Action(
            ActionKind.DELETE_RESOURCE, subject, rule, f"deletion was due at {format_due(due)}; delete with snapshots"
        )
    finding = Finding(rule, Status.FAIL, severity, subject, message, evidence, remediation, cost)
    return _Judged(finding, action, candidate)


def _error_findings(account: _Account) -> list[Finding]:
    """One ERROR finding per rule whose inventory of the account failed, listing every failure."""
    url = account.client.url if account.client is not None else account.config.account_url
    subject = Subject(
        provider="azure", kind="storage_account", provider_name=account.name, resource_id=url, scope=account.name
    )
    by_rule: dict[str, list[str]] = {}
    for rule, message in account.errors:
        if message not in by_rule.setdefault(rule, []):
            by_rule[rule].append(message)
    return [
        Finding(
            rule,
            Status.ERROR,
            Severity.HIGH,
            subject,
            f"blob inventory ({rule}) of storage account {account.name} is incomplete: {'; '.join(messages)}; "
            "no blob in this account is marked or deleted in this run",
            {"account": account.name, "errors": json.dumps(messages)},
            "Fix the access or the configuration (containers, credentials) and rerun.",
        )
        for rule, messages in by_rule.items()
    ]


# -- actions -----------------------------------------------------------------------------------------


def _act(
    judged: list[tuple[_Account, _Judged]],
    rules: _Rules,
    apply: bool,
    run_id: str,
    journal: Journal,
    clock: Callable[[], datetime],
    progress: Progress,
    max_actions: int,
    findings: list[Finding],
    fence: Callable[[], None],
) -> list[ActionRecord]:
    planned = [(account, one) for account, one in judged if one.action is not None]
    records: list[ActionRecord] = []
    runnable: list[tuple[_Account, _Judged]] = []
    for account, one in planned:
        assert one.action is not None
        if account.complete:
            runnable.append((account, one))
        else:
            detail = f"blocked: the inventory of storage account {account.name} is incomplete (see its ERROR)"
            records.append(_skip(one.action, detail, clock, journal, run_id, apply))
    if len(runnable) > max_actions:
        message = (
            f"blob sweep aborted: {len(runnable)} actions exceed max_actions_per_run={max_actions}; nothing was changed"
        )
        findings.append(
            Finding(
                "SAFETY",
                Status.WARN,
                Severity.CRITICAL,
                Subject(provider="custodian", kind="plan", provider_name="blob-sweep"),
                message,
                {"actions": str(len(runnable)), "max_actions_per_run": str(max_actions)},
                "Review the findings; raise the cap deliberately or reap in smaller batches.",
            )
        )
        for _, one in runnable:
            assert one.action is not None
            records.append(_skip(one.action, "blocked: max_actions_per_run exceeded", clock, journal, run_id, apply))
        return records
    if not apply:
        records += [
            ActionRecord(one.action, ActionOutcome.PLANNED, clock(), "dry run") for _, one in runnable if one.action
        ]
        return records
    progress.begin("blob actions", len(runnable))
    for index, (account, one) in enumerate(runnable):
        assert account.client is not None and one.action is not None
        try:
            fence()
        except Exception as exc:  # noqa: BLE001 - e.g. the HA lease is lost: take nothing more
            for _, left in runnable[index:]:
                assert left.action is not None
                records.append(_skip(left.action, f"not taken: {exc}", clock, journal, run_id, apply))
            break
        record = _execute(account.client, one.action, one.candidate, rules, run_id, journal, clock)
        records.append(record)
        progress.advance(f"{one.action.kind.value} {one.action.subject.provider_name}: {record.outcome.value}")
    return records


def _skip(
    action: Action, detail: str, clock: Callable[[], datetime], journal: Journal, run_id: str, apply: bool
) -> ActionRecord:
    at = clock()
    if apply:
        journal.journal_outcome(run_id, action, ActionOutcome.SKIPPED, at, detail)
    return ActionRecord(action, ActionOutcome.SKIPPED, at, detail)


def _execute(
    client: BlobAccount,
    action: Action,
    candidate: _Candidate,
    rules: _Rules,
    run_id: str,
    journal: Journal,
    clock: Callable[[], datetime],
) -> ActionRecord:
    facts = candidate.facts
    reaper = rules.reaper

    def outcome(result: ActionOutcome, detail: str, snapshot: dict[str, Any] | None = None) -> ActionRecord:
        at = clock()
        journal.journal_outcome(run_id, action, result, at, detail, snapshot)
        return ActionRecord(action, result, at, detail, snapshot or {})

    try:
        before = client.read(facts.container, facts.name)
    except Exception as exc:  # noqa: BLE001 - journaled as failed, reported
        return outcome(ActionOutcome.FAILED, f"re-read before acting failed: {_describe(exc)}")
    deleting = action.kind is ActionKind.DELETE_RESOURCE
    if before is None:
        if deleting:
            return outcome(ActionOutcome.DONE, "already gone: the blob no longer exists (re-read: 404)")
        return outcome(ActionOutcome.SKIPPED, "the blob no longer exists")
    snapshot = before.snapshot()
    if reaper.hold_tag in before.tags:
        return outcome(
            ActionOutcome.SKIPPED,
            f"held: {reaper.hold_tag}={before.tags[reaper.hold_tag]!r} (placed since the inventory)",
            snapshot,
        )
    if not rules.still_candidate(candidate.rule, before, action.subject.version, action.subject.stage):
        return outcome(
            ActionOutcome.SKIPPED, f"no longer a {candidate.rule} candidate (changed since the inventory)", snapshot
        )
    due = rules.mark_due(before)

    if not deleting:
        if due is not None:
            return outcome(ActionOutcome.DONE, f"already marked: deletion due at {format_due(due)}", snapshot)
        planned = format_due(rules.now + reaper.mark_grace)
        journal.journal_intent(run_id, action, clock(), snapshot)
        try:
            client.set_tags(before.container, before.name, {**before.tags, reaper.mark_tag: planned})
        except Exception as exc:  # noqa: BLE001
            return outcome(ActionOutcome.FAILED, f"setting the mark failed: {_describe(exc)}", snapshot)
        try:
            after = client.read(before.container, before.name)
        except Exception as exc:  # noqa: BLE001
            return outcome(ActionOutcome.UNCONFIRMED, f"re-read after marking failed: {_describe(exc)}", snapshot)
        if after is not None and after.tags.get(reaper.mark_tag) == planned:
            return outcome(ActionOutcome.DONE, f"marked: deletion due at {planned}; confirmed by re-read", snapshot)
        return outcome(ActionOutcome.UNCONFIRMED, "the re-read does not show the mark", snapshot)

    if due is None or due > rules.now:
        return outcome(ActionOutcome.SKIPPED, "the mark changed since the inventory: not due any more", snapshot)
    try:
        condition: str | None = tag_equals(reaper.mark_tag, before.tags[reaper.mark_tag])
    except TagQueryError:
        condition = None
    journal.journal_intent(run_id, action, clock(), snapshot)
    try:
        client.delete(before.container, before.name, etag=before.etag, tags_match=condition)
    except Exception as exc:  # noqa: BLE001 - e.g. 412: changed between the re-read and the delete
        return outcome(
            ActionOutcome.FAILED, f"delete refused or failed, blob left in place: {_describe(exc)}", snapshot
        )
    try:
        present = client.exists(before.container, before.name)
    except Exception as exc:  # noqa: BLE001
        return outcome(ActionOutcome.UNCONFIRMED, f"re-read after deleting failed: {_describe(exc)}", snapshot)
    if present:
        return outcome(ActionOutcome.UNCONFIRMED, "delete accepted but the blob is still there", snapshot)
    return outcome(ActionOutcome.DONE, "deleted with its snapshots; confirmed by re-read (404 BlobNotFound)", snapshot)
