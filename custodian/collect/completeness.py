"""Truncation that can be seen: a listing that shrank noticeably since its last complete reading is
read a second time, and believed only if both readings agree.

A list page cut short *without* its next link (a proxy, a provider bug, the sandbox's `truncate`
fault) looks exactly like the end of the list: paging guards cannot see it. The second signal is
the listing's own history: the ledger keeps each listing's size when it was last accepted
(`listing_sizes`, per provider, scope and kind). When a listing now holds fewer objects than that,
by at least `collect.shrink_minimum` objects and by more than `collect.shrink_tolerance` of the
kept size, it is read again (the same request: none of these APIs can order differently):

- both readings hold the same objects: the shrink is real (objects were deleted) and accepted;
- they differ: `IncompleteListingError` naming the listing, the three counts and the tolerance;
  the collector turns it into a COLLECT ERROR for the scope, which blocks every action there.

A listing without history (the first run) is accepted as read, as before. A listing that grew
is accepted (a cut page in a growing scope is not seen: the next run reads it whole). Each accepted
size is kept for the next run (`accepted`); a refused listing keeps the size kept before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from custodian.providers.paging import ListingCheck

T = TypeVar("T")
ListingKey = tuple[str, str, str]  # (provider, scope, kind), as the ledger keeps them


class IncompleteListingError(RuntimeError):
    """A listing shrank, and reading it again gave a different answer: a page was probably cut short."""


@dataclass(frozen=True)
class ShrinkTolerance:
    """When a smaller listing is read again: fewer by at least `minimum` and by more than `fraction`."""

    fraction: float = 0.0
    minimum: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction < 1.0:
            raise ValueError(f"shrink tolerance must be a fraction in [0, 1), got {self.fraction}")
        if self.minimum < 1:
            raise ValueError(f"shrink minimum must be at least 1, got {self.minimum}")

    def noticed(self, previous: int, now: int) -> bool:
        drop = previous - now
        return drop >= self.minimum and drop > self.fraction * previous

    def describe(self) -> str:
        return f"collect.shrink_tolerance={self.fraction:g}, collect.shrink_minimum={self.minimum}"


@dataclass
class Completeness:
    """The listing checks of one run: the sizes kept by the last runs in, the sizes to keep out."""

    previous: Mapping[ListingKey, int]
    tolerance: ShrinkTolerance = field(default_factory=ShrinkTolerance)
    accepted: dict[ListingKey, int] = field(default_factory=dict)
    confirmed: list[str] = field(default_factory=list)  # shrinks a second reading confirmed (for the log)

    def for_scope(self, provider: str, scope: str) -> ListingCheck:
        """The `ListingCheck` of the listings of one scope (`kind` tells them apart)."""
        return _ScopeCheck(self, provider, scope)

    def check(
        self, key: ListingKey, what: str, read: Callable[[], Sequence[T]], identity: Callable[[T], str]
    ) -> list[T]:
        first = list(read())
        previous = self.previous.get(key)
        if previous is None or not self.tolerance.noticed(previous, len(first)):
            self.accepted[key] = len(first)
            return first
        second = list(read())
        first_ids, second_ids = {identity(item) for item in first}, {identity(item) for item in second}
        if first_ids == second_ids and len(first) == len(second):
            self.accepted[key] = len(first)
            self.confirmed.append(f"{what}: {previous} -> {len(first)}, confirmed by a second listing")
            return first
        raise IncompleteListingError(
            f"{what}: incomplete: the last complete listing held {previous}, this one {len(first)}, and read "
            f"again {len(second)} ({_difference(first_ids, second_ids)}): a page was probably cut short "
            f"without its next link (a shrink is read twice under {self.tolerance.describe()})"
        )


def _difference(first: set[str], second: set[str]) -> str:
    only_first, only_second = sorted(first - second), sorted(second - first)
    if not only_first and not only_second:
        return "the same objects, listed a different number of times"
    parts = []
    if only_second:
        parts.append(f"{len(only_second)} only in the second: {_names(only_second)}")
    if only_first:
        parts.append(f"{len(only_first)} only in the first: {_names(only_first)}")
    return "; ".join(parts)


def _names(ids: list[str], limit: int = 3) -> str:
    shown = ", ".join(i.rsplit("/", 1)[-1] for i in ids[:limit])
    return shown + (f" (+{len(ids) - limit} more)" if len(ids) > limit else "")


@dataclass(frozen=True)
class _ScopeCheck:
    completeness: Completeness
    provider: str
    scope: str

    def __call__(self, kind: str, what: str, read: Callable[[], Sequence[T]], identity: Callable[[T], str]) -> list[T]:
        return self.completeness.check((self.provider, self.scope, kind), what, read, identity)
