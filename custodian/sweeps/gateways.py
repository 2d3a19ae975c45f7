"""Account gateways: re-read one account and perform one action on it, per provider.

The executor only talks to `AccountGateway`; each implementation wraps a provider adapter and
knows what "done" looks like for each action kind (the re-read that confirms it).
"""

from __future__ import annotations

from typing import Protocol

from custodian.model import Action, ActionKind, CredentialKind, ServiceAccount
from custodian.providers.azure.acr import AcrTokens
from custodian.providers.github.accounts import GithubAccountReader
from custodian.providers.github.actions import GithubAccountActions

_CREDENTIAL_OF = {
    ActionKind.REMOVE_CREDENTIALS: CredentialKind.ACR_PASSWORD,
    ActionKind.REVOKE_PAT_GRANTS: CredentialKind.PAT_GRANT,
    ActionKind.DELETE_SSH_KEYS: CredentialKind.SSH_KEY,
}


class AccountGateway(Protocol):
    def refresh(self, provider_name: str) -> ServiceAccount | None: ...

    def perform(self, action: Action, account: ServiceAccount) -> None: ...


class UnverifiableAction(Exception):
    """The provider offers no read that can confirm this action (e.g. GHES impersonation tokens)."""


def satisfied(action: Action, account: ServiceAccount | None) -> bool:
    """Whether a re-read shows the state `action` is meant to produce."""
    if account is None:
        return True  # the account is gone: nothing of it can work any more
    if action.kind is ActionKind.DELETE_ACCOUNT:
        return False
    if action.kind in (ActionKind.DISABLE, ActionKind.REMOVE_MEMBERSHIP):
        return not account.enabled
    if action.kind in _CREDENTIAL_OF:
        return not any(c.kind is _CREDENTIAL_OF[action.kind] for c in account.credentials)
    raise UnverifiableAction(action.kind.value)


class AcrGateway:
    def __init__(self, tokens: AcrTokens) -> None:
        self.tokens = tokens

    def refresh(self, provider_name: str) -> ServiceAccount | None:
        return self.tokens.get(provider_name)

    def perform(self, action: Action, account: ServiceAccount) -> None:
        name = account.provider_name
        if action.kind is ActionKind.DISABLE:
            self.tokens.disable(name)
        elif action.kind is ActionKind.REMOVE_CREDENTIALS:
            self.tokens.remove_passwords(name)
        elif action.kind is ActionKind.DELETE_ACCOUNT:
            self.tokens.delete(name)
        else:
            raise ValueError(f"{action.kind.value} does not apply to an ACR token")


class GithubGateway:
    def __init__(self, reader: GithubAccountReader, actions: GithubAccountActions) -> None:
        self.reader = reader
        self.actions = actions

    def refresh(self, provider_name: str) -> ServiceAccount | None:
        return self.reader.get(provider_name)

    def perform(self, action: Action, account: ServiceAccount) -> None:
        login = account.provider_name
        credentials = [c.credential_id for c in account.credentials if c.kind is _CREDENTIAL_OF.get(action.kind)]
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
