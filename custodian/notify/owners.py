"""Who owns a target: the first owner tag present, else the fallback for its scope, else the default.

Accounts have no tags: they go to the author of their version's GitHub release (a login), else to
the fallback of their org (GitHub accounts) or of their registry's subscription (ACR tokens), else to
the fallback of the release repositories, else the default. An owner is a plain string (an email
address, a Slack handle, a GitHub login): each channel uses it as it can (email needs an address,
else it goes to the default fallback; webhooks and issues mention it).
"""

from __future__ import annotations

from collections.abc import Sequence

from custodian.config.notifications import Fallback
from custodian.engine.holds import Target
from custodian.model import ServiceAccount


def owner_of(
    target: Target | None,
    tag_keys: Sequence[str],
    fallback: Fallback,
    release_repos: Sequence[str] = (),
    *,
    release_author: str | None = None,
) -> tuple[str, str]:
    """(owner, how it was resolved), e.g. ("alice@example.com", "tag owner"); `release_author` is who
    released the account's version (GitHub's release author), when known."""
    if target is not None and not isinstance(target, ServiceAccount):
        for key in tag_keys:
            value = (target.tags.value(key) or "").strip()
            if value:
                return value, f"tag {key}"
    if isinstance(target, ServiceAccount) and release_author:
        return release_author, "the author of its version's release"
    scope = target.scope if target is not None else None
    if scope is not None:
        table = fallback.orgs if scope.is_github else fallback.subscriptions
        found = _lookup(table, scope.name)
        if found:
            return found, f"fallback for {scope}"
    if isinstance(target, ServiceAccount):
        for repo in release_repos:
            found = _lookup(fallback.repositories, repo)
            if found:
                return found, f"fallback for repository {repo}"
    return fallback.default, "default fallback"


def _lookup(table: dict[str, str], name: str) -> str | None:
    """Subscription ids, org and repository names compare case-insensitively."""
    wanted = name.casefold()
    return next((owner for key, owner in table.items() if key.casefold() == wanted), None)
