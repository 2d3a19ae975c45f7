"""GitHub reads kept between runs: facts read once, and conditional requests answered from the last reply.

`GithubCache` binds a store (the ledger, which has these methods; see `custodian.ledger.facts`) to a
GitHub base URL and the run's time. Two uses:

- **Facts** (`facts(kind, keys)` / `record(kind, facts)`): what never changes once final. The
  timeline keeps an annotated tag object's peeled commit and tagger date (keyed by the tag object's
  sha: a re-tag makes a new object, so it is read again) and a production deployment's statuses once
  one of them is a success (keyed by the deployment id; a deployment without a success is read again).
- **Conditional reads** (`etag(url)` / `store(url, etag, data, link)`): `GithubSession.get_json` and
  `paged` send `If-None-Match` with the ETag of the last 200 answer of the same URL; a 304 (which
  GitHub does not count against the rate limit) is answered with the body stored with that ETag.
  The ETag and its body are always stored together, from the same answer; answers are written in
  batches (`flush()`, which the run calls when it ends).

Counts (`hits`, `misses`, `not_modified`) say what the cache saved in a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

TAG_OBJECT = "tag_object"  # tag object sha -> {"commit_sha", "tagger_date"}
DEPLOYMENT_STATUSES = "deployment_statuses"  # deployment id -> [[state, created_at], ...] (with a success)


class GithubCacheStore(Protocol):
    """Where facts and ETagged answers live (the ledger implements it)."""

    def github_facts(self, kind: str, keys: Iterable[str]) -> dict[str, Any]: ...

    def record_github_facts(self, kind: str, facts: Mapping[str, Any], at: datetime) -> None: ...

    def github_etag(self, url: str) -> tuple[str, Any] | None: ...

    def record_github_etags(self, answers: Mapping[str, tuple[str, Any]], at: datetime) -> None: ...


@dataclass(frozen=True)
class CachedAnswer:
    etag: str
    data: Any
    link: str


@dataclass
class GithubCache:
    """A `GithubCacheStore` bound to one GitHub (`base_url`) and the time facts are recorded at."""

    store: GithubCacheStore
    base_url: str
    now: datetime
    hits: int = 0  # facts answered from the store
    misses: int = 0  # facts read from GitHub (and recorded when final)
    not_modified: int = 0  # 304 answers served from the stored body
    flush_every: int = 500  # answers kept in memory before they are written in one transaction
    _etags: dict[str, CachedAnswer] = field(default_factory=dict, repr=False)
    _pending: dict[str, tuple[str, Any]] = field(default_factory=dict, repr=False)

    def _key(self, key: str) -> str:
        return f"{self.base_url.rstrip('/')}|{key}"

    # -- facts --------------------------------------------------------------------------------------
    def facts(self, kind: str, keys: Iterable[str]) -> dict[str, Any]:
        """The known facts among `keys` (key -> value)."""
        wanted = {self._key(key): key for key in keys}
        found = self.store.github_facts(kind, wanted)
        self.hits += len(found)
        return {wanted[k]: v for k, v in found.items()}

    def record(self, kind: str, facts: Mapping[str, Any]) -> None:
        """Record final facts (the caller decides what is final)."""
        self.misses += len(facts)
        if facts:
            self.store.record_github_facts(kind, {self._key(k): v for k, v in facts.items()}, self.now)

    # -- conditional reads ----------------------------------------------------------------------------
    def url_key(self, url: str, params: Mapping[str, Any] | None) -> str:
        query = urlencode(sorted((str(k), str(v)) for k, v in (params or {}).items()))
        return self._key(f"{url}?{query}" if query else url)

    def etag(self, key: str) -> CachedAnswer | None:
        cached = self._etags.get(key)
        if cached is None:
            row = self.store.github_etag(key)
            if row is None or not isinstance(row[1], dict) or "data" not in row[1]:
                return None
            cached = CachedAnswer(row[0], row[1]["data"], str(row[1].get("link") or ""))
            self._etags[key] = cached
        return cached

    def store_answer(self, key: str, etag: str, data: Any, link: str) -> None:
        """Keep an answer with its ETag (written to the store in batches: `flush()` writes the rest).

        An answer carrying a credential (a non-empty `token`, as token-creating answers have) is
        never kept: the reads cached here (users, public keys, PAT grant metadata) carry none."""
        if _carries_token(data):
            return
        self._etags[key] = CachedAnswer(etag, data, link)
        self._pending[key] = (etag, {"data": data, "link": link})
        if len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write the answers not written yet (an answer never written is only read again next run)."""
        pending, self._pending = self._pending, {}
        if pending:
            self.store.record_github_etags(pending, self.now)


def _carries_token(data: Any) -> bool:
    items = data if isinstance(data, list) else [data]
    return any(isinstance(item, dict) and bool(item.get("token")) for item in items)
