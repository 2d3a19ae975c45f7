"""Paging that cannot hang: a listing stops with `PagingError` on a next link already followed, or past a ceiling.

A provider's list page names the next one (ARM's `nextLink`, a storage `NextMarker`, GitHub's
`Link: <...>; rel="next"`). A next link that points back to a page already read (itself, or an
earlier one) would be followed for ever, and so would a listing of absurd length. Every listing
of ours goes through a `PageGuard`: it remembers the next links of that one listing and raises
`PagingError` on a repeat, or once more than `MAX_PAGES` pages were read. The collectors turn
that into a COLLECT ERROR for the listing's scope, which blocks every action there.

- `azure_pages` wraps the page iterator of an azure-core `ItemPaged.by_page()` (azure-mgmt lists,
  blob and container lists): its public `continuation_token` is the next link (or marker);
- `azure_items` flattens it, for `for item in client.things.list()`;
- `github_items` iterates a PyGithub `PaginatedList` page by page (`_couldGrow`/`_grow`, the
  protected hooks its own `__iter__` uses) and reads the next URL it will request; it fails
  closed (`PagingError`) if PyGithub stops keeping that URL where this module looks for it;
- raw `Link` paging (`GithubSession.paged`) calls `PageGuard.follow` itself.

Cloud Custodian's child processes page ARM with their own code; their listings are bounded by
`reaper.c7n_timeout` and checked against the generic listing, not by this module.

A page cut short *without* a next link looks like the end of the list: no guard here can see it.
A listing that can be read again is handed to a `ListingCheck` (`kind`, a description, a function
that reads it whole, the identity of an item), which returns the items it accepts as complete or
raises; `custodian.collect.completeness` compares the listing's size with the last complete one and
reads a shrunken listing a second time. `unchecked` reads it once (no history: commands that only look).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from github.GithubObject import GithubObject
from github.PaginatedList import PaginatedList

T = TypeVar("T")
G = TypeVar("G", bound=GithubObject)

#: far beyond any real listing (10,000 pages of 100 items is a million objects in one scope)
MAX_PAGES: Final = 10_000
_NEXT_URL_ATTRIBUTE: Final = "_PaginatedList__nextUrl"


class ListingCheck(Protocol):
    """Read one listing through `read` (whole) and return the items accepted as complete, or raise."""

    def __call__(
        self, kind: str, what: str, read: Callable[[], Sequence[T]], identity: Callable[[T], str]
    ) -> list[T]: ...


def unchecked(kind: str, what: str, read: Callable[[], Sequence[T]], identity: Callable[[T], str]) -> list[T]:
    """The `ListingCheck` of a command without history: the listing, read once."""
    return list(read())


class PagingError(RuntimeError):
    """A listing's paging went wrong (a next link already followed, or too many pages): it is incomplete."""


def _normalised(link: str) -> str:
    """The link with scheme and host lower-cased and query parameters sorted (the same page, spelled alike)."""
    parts = urlsplit(link.strip())
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, query, ""))


def _shown(link: str, limit: int = 120) -> str:
    return link if len(link) <= limit else link[: limit - 3] + "..."


class PageGuard:
    """The pages of one listing: `follow(next_link)` before each page after the first."""

    def __init__(self, what: str, max_pages: int = MAX_PAGES) -> None:
        self.what = what
        self.max_pages = max_pages
        self.pages = 1  # the first page is requested without a next link
        self._followed: set[str] = set()

    def follow(self, next_link: str) -> None:
        """Record that `next_link` is about to be requested; PagingError on a repeat or past the ceiling."""
        key = _normalised(next_link)
        if key in self._followed:
            raise PagingError(
                f"{self.what}: stopped after {self.pages} pages, incomplete: the next-page link points back to "
                f"a page already read ({_shown(next_link)})"
            )
        if self.pages >= self.max_pages:
            raise PagingError(
                f"{self.what}: stopped after {self.max_pages:,} pages, incomplete: more pages than any real listing has"
            )
        self._followed.add(key)
        self.pages += 1


def azure_pages(pages: Iterator[Iterable[T]], what: str, max_pages: int = MAX_PAGES) -> Iterator[Iterable[T]]:
    """The pages of `ItemPaged.by_page()`, stopped by `PagingError` before a next link is followed twice.

    After each page, the page iterator's `continuation_token` is the link (or marker) its next
    request will follow (None at the end).
    """
    guard = PageGuard(what, max_pages)
    for page in pages:
        yield page
        token = getattr(pages, "continuation_token", None)
        if token:  # the next request follows it
            guard.follow(str(token))


def azure_items(paged: Any, what: str, max_pages: int = MAX_PAGES) -> Iterator[Any]:
    """The items of an azure-core `ItemPaged`, page by page through `azure_pages`."""
    for page in azure_pages(paged.by_page(), what, max_pages):
        yield from page


def github_items(items: PaginatedList[G], what: str, max_pages: int = MAX_PAGES) -> Iterator[G]:
    """The elements of a PyGithub `PaginatedList`, stopped by `PagingError` on a repeated `Link` next URL."""
    if not hasattr(items, _NEXT_URL_ATTRIBUTE):  # fail closed if PyGithub's internals move
        raise PagingError(f"{what}: cannot follow this PyGithub version's pages safely")
    guard = PageGuard(what, max_pages)
    first = True
    while items._couldGrow():
        if not first:
            guard.follow(str(getattr(items, _NEXT_URL_ATTRIBUTE)))
        first = False
        yield from items._grow()
