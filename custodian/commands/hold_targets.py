"""Checking a hold's target before it is placed: does a repository or a provider know that name?

`hold add` looks a version up in the release timeline, and an account among the GitHub machine
accounts and ACR tokens, read-only (the collection `release status` makes). A name nobody knows is
bad input, answered with the nearest known names (difflib). When a unit that could know it cannot
be read, the check is inconclusive (`UncheckedError`): nothing is placed, and the message says how
to place it without the check.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from custodian.collect.accounts import collect_inventory
from custodian.config import Config, ConfigError
from custodian.errors import BadInputError
from custodian.model import TIMELINE_UNIT, CollectionError, Inventory
from custodian.progress import Progress
from custodian.providers.wire import CallCounter
from custodian.rules.naming import ParsedAccount
from custodian.run import Providers, RunTuning, sources_of

NEAREST = 3  # suggestions shown for an unknown name
LISTED = 8  # known names listed when none is near
VERSION_HATCH = "--no-check (or, for a version that is not tagged yet, --future)"
ACCOUNT_HATCH = "--no-check"


def _unchecked_hint(hatch: str) -> str:
    return f"Nothing was placed. If the name is right, place the hold without the check: add {hatch}."


class UncheckedError(Exception):
    """The target could not be checked: a unit that could know it was not read completely."""


@dataclass(frozen=True)
class Known:
    """The names a hold may be placed on, and the units that could not be read."""

    names: dict[str, str]  # case-folded spelling -> the name the hold is stored under
    incomplete: tuple[CollectionError, ...]
    where: str  # what was looked at, for messages
    hatch: str  # the option that places the hold without the lookup

    def canonical(self) -> list[str]:
        return sorted(set(self.names.values()))


def _collect(config: Config, now: datetime, progress: Progress, *, accounts_too: bool) -> Inventory:
    try:
        providers = Providers(config, read_only=True, counter=CallCounter(), tuning=RunTuning())
    except ConfigError as exc:
        hatch = ACCOUNT_HATCH if accounts_too else VERSION_HATCH
        raise BadInputError(
            "cannot look the hold's target up: " + "; ".join(exc.problems) + ". " + _unchecked_hint(hatch)
        ) from exc
    try:
        return collect_inventory(
            sources_of(config, providers), config.namer(), now, progress, accounts_too=accounts_too
        )
    finally:
        providers.close()


def known_versions(config: Config, now: datetime, progress: Progress) -> Known:
    """Every version the release repositories know (a tag, a release or a deployment)."""
    inventory = _collect(config, now, progress, accounts_too=False)
    versions = inventory.timeline.versions()
    return Known(
        {v.casefold(): v for v in versions},
        tuple(e for e in inventory.errors if e.unit == TIMELINE_UNIT),
        "the release repositories " + ", ".join(config.github.release_repos),
        VERSION_HATCH,
    )


def known_accounts(config: Config, now: datetime, progress: Progress) -> Known:
    """Every GitHub machine account and ACR token, by provider name and by logical name.

    A provider name that resolves (`v0-0-1-uat-gh-sa`) is stored as its logical name
    (`v0.0.1-uat-gh-sa`); one that does not (an N1 finding) is stored as the provider spells it.
    """
    inventory = _collect(config, now, progress, accounts_too=True)
    namer, versions = config.namer(), inventory.timeline.versions()
    names: dict[str, str] = {}
    for account in inventory.accounts:
        parsed = namer.parse_account(account.provider_name, versions, account.display_name)
        canonical = parsed.logical_name if isinstance(parsed, ParsedAccount) else account.provider_name
        names[account.provider_name.casefold()] = canonical
        names[canonical.casefold()] = canonical
    count = len(config.azure.registries)
    where = f"the GitHub accounts of {config.github.org} and the ACR tokens of {count} registr"
    return Known(names, inventory.errors, where + ("y" if count == 1 else "ies"), ACCOUNT_HATCH)


def nearest(name: str, candidates: Iterable[str]) -> list[str]:
    """The known names closest to `name`, best first (compared case-insensitively)."""
    by_folded = {c.casefold(): c for c in candidates}
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=NEAREST, cutoff=0.6)
    return [by_folded[c] for c in close]


def resolve(option: str, name: str, known: Known, *, hint: str = "") -> str:
    """The name to store the hold under; `BadInputError` if nobody knows it, `UncheckedError` if unsure."""
    found = known.names.get(name.casefold())
    if found is not None:
        return found
    if known.incomplete:
        lines = "\n".join(f"  {e.unit}: {_cut(e.message)}" for e in known.incomplete)
        raise UncheckedError(
            f"could not check {option} {name}: {known.where} could not all be read (can GitHub and Azure "
            f"be reached?):\n{lines}\n{_unchecked_hint(known.hatch)}"
        )
    names = known.canonical()
    close = nearest(name, names)
    if close:
        suggestion = "Did you mean " + _either(close) + "?"
    elif names:
        more = f" (and {len(names) - LISTED} more)" if len(names) > LISTED else ""
        suggestion = "Known: " + ", ".join(names[:LISTED]) + more + "."
    else:
        suggestion = "None is known yet."
    raise BadInputError(
        f"{option}: {name!r} is not known to {known.where}. {suggestion}" + (f" {hint}" if hint else "")
    )


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
