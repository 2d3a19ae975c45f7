"""The ledger's GitHub facts and ETagged answers (`custodian.ledger.facts`), on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from custodian.ledger.store import Ledger

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.open(ledger_url) as opened:
        yield opened


def test_a_fact_is_recorded_once_and_keeps_its_first_value(ledger: Ledger) -> None:
    assert ledger.github_facts("tag_object", ["a", "b"]) == {}
    ledger.record_github_facts("tag_object", {"a": {"commit_sha": "1" * 40, "tagger_date": None}}, T0)
    ledger.record_github_facts("tag_object", {"a": {"commit_sha": "2" * 40}, "b": [["success", "x"]]}, T0)
    assert ledger.github_facts("tag_object", ["a", "b", "c"]) == {
        "a": {"commit_sha": "1" * 40, "tagger_date": None},
        "b": [["success", "x"]],
    }
    assert ledger.github_facts("deployment_statuses", ["a"]) == {}  # facts are per kind


def test_many_facts_are_looked_up_in_chunks(ledger: Ledger) -> None:
    facts = {f"acme/product|{i:04d}": i for i in range(1200)}
    ledger.record_github_facts("deployment_statuses", facts, T0)
    assert ledger.github_facts("deployment_statuses", [*facts, "absent"]) == facts


def test_an_answer_is_replaced_whole_with_its_etag(ledger: Ledger) -> None:
    url = "https://ghe.example/api/v3|/users/qa-sa"
    assert ledger.github_etag(url) is None
    ledger.record_github_etags({url: ('"e1"', {"data": {"suspended_at": None}, "link": ""})}, T0)
    ledger.record_github_etags({url: ('"e2"', {"data": {"suspended_at": "2026-11-01T12:00:00Z"}, "link": ""})}, T0)
    assert ledger.github_etag(url) == ('"e2"', {"data": {"suspended_at": "2026-11-01T12:00:00Z"}, "link": ""})
