"""Account gateways: re-read one account and perform one step on it (ACR tokens, GitHub machine accounts)."""

from __future__ import annotations

from azure.core.exceptions import ServiceResponseError

from custodian.engine.execute import Operation, OperationStatus
from custodian.engine.holds import Target
from custodian.model import Action, ActionKind, CredentialKind, ServiceAccount
from custodian.providers.azure.acr import AcrTokens
from custodian.providers.github.accounts import GithubAccountReader
from custodian.providers.github.actions import GithubAccountActions

_CREDENTIAL_OF = {
    ActionKind.REMOVE_CREDENTIALS: CredentialKind.ACR_PASSWORD,
    ActionKind.REVOKE_PAT_GRANTS: CredentialKind.PAT_GRANT,
    ActionKind.DELETE_SSH_KEYS: CredentialKind.SSH_KEY,
}


def satisfied(action: Action, account: Target | None) -> bool | None:
    """Whether a re-read shows the state `action` is meant to produce (None: no read can tell)."""
    if account is None:
        return True  # the account is gone: nothing of it can work any more
    if not isinstance(account, ServiceAccount):
        return False
    if action.kind is ActionKind.DELETE_ACCOUNT:
        return False
    if action.kind in (ActionKind.DISABLE, ActionKind.REMOVE_MEMBERSHIP):
        return not account.enabled
    if action.kind in _CREDENTIAL_OF:
        return not any(c.kind is _CREDENTIAL_OF[action.kind] for c in account.credentials)
    return None  # e.g. GHES impersonation tokens: not listable


class TokenGoneWatch:
    """A token deletion whose answer was lost: done once the token is gone (GETs only, never a second DELETE).

    The executor journals it as accepted, so a run killed while watching leaves the next run a record
    that the DELETE went out (it watches too, and does not send it again)."""

    def __init__(self, tokens: AcrTokens, name: str) -> None:
        self._tokens = tokens
        self._name = name

    def poll(self) -> OperationStatus:
        return OperationStatus(self._tokens.get(self._name) is None, retry_after_s=1.0)


class _AccountGateway:
    def satisfied(self, action: Action, target: Target | None) -> bool | None:
        return satisfied(action, target)

    def blocked(self, action: Action, target: Target) -> str | None:
        return None

    def in_progress(self, action: Action, target: Target) -> Operation | None:
        return None


class AcrGateway(_AccountGateway):
    def __init__(self, tokens: AcrTokens) -> None:
        self.tokens = tokens

    def read(self, action: Action) -> Target | None:
        return self.tokens.get(action.subject.provider_name)

    def perform(self, action: Action, target: Target) -> Operation | None:
        name = action.subject.provider_name
        if action.kind is ActionKind.DISABLE:
            self.tokens.disable(name)
        elif action.kind is ActionKind.REMOVE_CREDENTIALS:
            self.tokens.remove_passwords(name)
        elif action.kind is ActionKind.DELETE_ACCOUNT:
            try:
                self.tokens.delete(name)
            except ServiceResponseError:  # sent, its answer lost: ARM may be deleting it; watched, never re-sent
                return TokenGoneWatch(self.tokens, name)
        else:
            raise ValueError(f"{action.kind.value} does not apply to an ACR token")
        return None


class GithubGateway(_AccountGateway):
    def __init__(self, reader: GithubAccountReader, actions: GithubAccountActions) -> None:
        self.reader = reader
        self.actions = actions

    def read(self, action: Action) -> Target | None:
        return self.reader.get(action.subject.provider_name)

    def perform(self, action: Action, target: Target) -> Operation | None:
        assert isinstance(target, ServiceAccount)
        login = target.provider_name
        credentials = [c.credential_id for c in target.credentials if c.kind is _CREDENTIAL_OF.get(action.kind)]
        if action.kind is ActionKind.DISABLE:
            self.actions.suspend(login, f"release-custodian: {action.rule} ({action.reason})")
        elif action.kind is ActionKind.DELETE_IMPERSONATION_TOKENS:
            self.actions.delete_impersonation_tokens(login)
        elif action.kind is ActionKind.DELETE_SSH_KEYS:
            self.actions.delete_ssh_keys(credentials)
        elif action.kind is ActionKind.REVOKE_PAT_GRANTS:
            self.actions.revoke_pat_grants(credentials)
        elif action.kind is ActionKind.REMOVE_MEMBERSHIP:
            self.actions.remove_membership(login)
        elif action.kind is ActionKind.DELETE_ACCOUNT:
            self.actions.delete_user(login)
        else:
            raise ValueError(f"{action.kind.value} does not apply to a GitHub account")
        return None
