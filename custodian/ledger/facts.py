"""GitHub reads kept between runs, for `Ledger` (mixed in): facts that never change, and ETagged answers.

- Facts (`github_facts`): what GitHub never changes once it is final, keyed by `(kind, key)` where the
  key names the object itself (a tag object's sha, a deployment's id), so a new object (a re-tag) is a
  new key and is read again. A fact is recorded once; recording it again keeps the first value.
- Conditional answers (`github_etags`): per request URL, the ETag of the last 200 answer and that
  answer's body (`{"data", "link"}`); a later 304 to `If-None-Match` is answered from it. Storing a
  new answer replaces the old one whole (the ETag and its body are always written together).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from custodian.ledger import schema as t
from custodian.ledger.rows import aware, checked_text, jsonable

_CHUNK = 500  # keys per IN (...) query


class FactsLedger(ABC):
    """GitHub fact and ETag methods of `Ledger`."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Connection]: ...

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]: ...

    def github_facts(self, kind: str, keys: Iterable[str]) -> dict[str, Any]:
        """The recorded facts of `kind` among `keys` (key -> value); keys never recorded are absent."""
        wanted = sorted(set(keys))
        found: dict[str, Any] = {}
        facts = t.github_facts
        with self._read() as conn:
            for start in range(0, len(wanted), _CHUNK):
                query = select(facts.c.key, facts.c.value).where(
                    facts.c.kind == kind, facts.c.key.in_(wanted[start : start + _CHUNK])
                )
                found.update((row.key, row.value) for row in conn.execute(query))
        return found

    def record_github_facts(self, kind: str, facts: Mapping[str, Any], at: datetime) -> None:
        """Record facts of `kind` not recorded yet (one transaction); a known key keeps its first value."""
        at = aware("at", at)
        kind = checked_text("kind", kind, 32)
        if not facts:
            return
        table = t.github_facts
        with self._write() as conn:
            known: set[str] = set()
            keys = sorted(facts)
            for start in range(0, len(keys), _CHUNK):
                query = select(table.c.key).where(table.c.kind == kind, table.c.key.in_(keys[start : start + _CHUNK]))
                known.update(conn.execute(query).scalars())
            rows = [
                {
                    "kind": kind,
                    "key": checked_text("key", key, 1024),
                    "value": jsonable(value, "value"),
                    "recorded_at": at,
                }
                for key, value in facts.items()
                if key not in known
            ]
            if rows:
                conn.execute(table.insert(), rows)

    def github_etag(self, url: str) -> tuple[str, Any] | None:
        """The ETag and body of the last 200 answer stored for `url`, or None."""
        table = t.github_etags
        with self._read() as conn:
            row = conn.execute(select(table.c.etag, table.c.body).where(table.c.url == url)).first()
        return (row.etag, row.body) if row is not None else None

    def record_github_etags(self, answers: Mapping[str, tuple[str, Any]], at: datetime) -> None:
        """Store each `url -> (etag, body)`, replacing what was there for those URLs (one transaction)."""
        at = aware("at", at)
        rows = [
            {
                "url": checked_text("url", url, 2048),
                "etag": checked_text("etag", etag, 256),
                "body": jsonable(body, "body"),
                "stored_at": at,
            }
            for url, (etag, body) in answers.items()
        ]
        if not rows:
            return
        table = t.github_etags
        with self._write() as conn:
            for start in range(0, len(rows), _CHUNK):
                urls = [row["url"] for row in rows[start : start + _CHUNK]]
                conn.execute(delete(table).where(table.c.url.in_(urls)))
            conn.execute(table.insert(), rows)
