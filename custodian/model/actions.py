"""Actions (one change the planner wants) and what became of them.

An action names its target (`target`: the key of the account, resource or blob it changes), the
`scope` the allowlist and caps count it in, when it may happen at the earliest (`not_before`: a
hand-off's grace, a mark's due time), which other actions must be confirmed first (`after`: a VM
before its NIC, a detach before the VM), and its parameters (`params`: the mark's due time, the
dependent a detach concerns). `key` identifies it across runs, so a rerun never acts twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from custodian.model.findings import Finding, Subject
from custodian.model.vocabulary import ResourceKind, Scope


class ActionKind(StrEnum):
    DISABLE = "disable"  # suspend a GitHub user / set an ACR token's status to disabled
    REMOVE_CREDENTIALS = "remove_credentials"  # delete ACR passwords
    REVOKE_PAT_GRANTS = "revoke_pat_grants"
    DELETE_IMPERSONATION_TOKENS = "delete_impersonation_tokens"
    DELETE_SSH_KEYS = "delete_ssh_keys"
    REMOVE_MEMBERSHIP = "remove_membership"
    DELETE_ACCOUNT = "delete_account"
    MARK = "mark"  # reaping, phase 1: tag a resource or blob with its planned deletion time
    DETACH_ON_DELETE = "detach_on_delete"  # set a VM dependent's deleteOption to Detach before the VM goes
    DELETE_RESOURCE = "delete_resource"  # reaping, phase 2: delete a marked resource or blob once due

    @property
    def deletes(self) -> bool:
        return self in (ActionKind.DELETE_ACCOUNT, ActionKind.DELETE_RESOURCE)


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    subject: Subject
    rule: str
    reason: str
    scope: Scope | None  # None: unknown (a storage account whose subscription could not be resolved)
    target_kind: ResourceKind
    target: str  # the target's key (see the model classes' `key`)
    not_before: datetime | None = None
    after: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """Unique per change: the kind and the target (and, for a detach, the dependent)."""
        member = self.param("member")
        suffix = f"#{member.lower()}" if member else ""
        return f"{self.kind.value}:{self.target}{suffix}"

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)


class ActionOutcome(StrEnum):
    PLANNED = "planned"  # dry run: what --apply would do
    INTENT = "intent"  # journaled before acting
    DONE = "done"  # acted and confirmed by a re-read
    UNCONFIRMED = "unconfirmed"  # acted but the re-read does not show the change (yet)
    FAILED = "failed"
    SKIPPED = "skipped"  # refused or not taken: held, outside allowlist, blocked scope, cap, fence


@dataclass(frozen=True)
class ActionRecord:
    """An action and what became of it, as journaled and reported."""

    action: Action
    outcome: ActionOutcome
    at: datetime
    detail: str = ""
    snapshot: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """What a rule says of one subject (its finding) and the actions it proposes to fix it.

    `target` is the key of the account, resource or blob the finding is about (None for findings
    about no target: a collection error, an expired hold). The engine decides what becomes of the
    proposed actions and settles the finding accordingly (held, report only, refused, planned).
    """

    finding: Finding
    target: str | None = None
    actions: tuple[Action, ...] = ()
