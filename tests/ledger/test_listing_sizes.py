"""Listing sizes kept between runs (r0009): replaced, not accumulated; keyed by provider, scope and kind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custodian.ledger.rows import LedgerInputError
from custodian.ledger.store import Ledger

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_sizes_are_kept_per_listing_and_replaced(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        assert ledger.listing_sizes() == {}
        ledger.record_listing_sizes(
            {("azure", "/r1", "acr-tokens"): 4, ("github", "github:acme", "users"): 30}, "r1", T0
        )
        ledger.record_listing_sizes({("azure", "/r1", "acr-tokens"): 3, ("azure", "/r2", "acr-tokens"): 0}, "r2", T0)
        assert ledger.listing_sizes() == {
            ("azure", "/r1", "acr-tokens"): 3,
            ("azure", "/r2", "acr-tokens"): 0,
            ("github", "github:acme", "users"): 30,
        }
        ledger.record_listing_sizes({}, "r3", T0)  # nothing to keep: nothing changes
        assert len(ledger.listing_sizes()) == 3


def test_a_bad_size_or_naive_time_is_refused(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        with pytest.raises(LedgerInputError, match="negative"):
            ledger.record_listing_sizes({("azure", "/r", "acr-tokens"): -1}, "r1", T0)
        with pytest.raises(ValueError, match=r"naive|timezone"):
            ledger.record_listing_sizes({("azure", "/r", "acr-tokens"): 1}, "r1", datetime(2026, 1, 1))
        assert ledger.listing_sizes() == {}
