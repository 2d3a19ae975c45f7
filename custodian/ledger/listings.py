"""Listing sizes kept between runs, for `Ledger` (mixed in): how many objects each listing held when
it was last accepted as complete, per (provider, scope, kind).

A list page cut short without a next link looks like the end of the list. The collectors compare
each listing with the size kept here and read a listing that shrank noticeably a second time
before believing it (`custodian.collect.completeness`). Recording a size replaces the one kept.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import Connection, and_, delete, select

from custodian.ledger import schema as t
from custodian.ledger.rows import LedgerInputError, aware, checked_text

ListingKey = tuple[str, str, str]  # (provider, scope, kind)


class ListingsLedger(ABC):
    """Listing-size methods of `Ledger`."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Connection]: ...

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]: ...

    def listing_sizes(self) -> dict[ListingKey, int]:
        """Every kept listing size: (provider, scope, kind) -> count."""
        table = t.listing_sizes
        with self._read() as conn:
            rows = conn.execute(select(table.c.provider, table.c.scope, table.c.kind, table.c.count))
            return {(provider, scope, kind): int(count) for provider, scope, kind, count in rows}

    def record_listing_sizes(self, sizes: Mapping[ListingKey, int], run_id: str, at: datetime) -> None:
        """Keep each listing's size (replacing what was kept for it), in one transaction."""
        at = aware("at", at)
        rows = []
        for (provider, scope, kind), count in sorted(sizes.items()):
            if count < 0:
                raise LedgerInputError(f"a listing size cannot be negative: {provider} {scope} {kind}: {count}")
            rows.append(
                {
                    "provider": checked_text("provider", provider, 16),
                    "scope": checked_text("scope", scope, 512),
                    "kind": checked_text("kind", kind, 64),
                    "count": count,
                    "run_id": checked_text("run_id", run_id, 64),
                    "recorded_at": at,
                }
            )
        if not rows:
            return
        table = t.listing_sizes
        with self._write() as conn:
            for row in rows:
                conn.execute(
                    delete(table).where(
                        and_(
                            table.c.provider == row["provider"],
                            table.c.scope == row["scope"],
                            table.c.kind == row["kind"],
                        )
                    )
                )
            conn.execute(table.insert(), rows)
