"""The ledger's webhook events (revision 0005) on SQLite and PostgreSQL: a delivery id is recorded
once, due events come earliest first, only the lease holder claims one, and a gone leader's running
events are queued again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from custodian.ledger.events import EventStatus, WebhookEvent
from custodian.ledger.scheduling import LeaseToken
from custodian.ledger.store import Ledger

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
LEASE = "scheduler"


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.open(ledger_url) as opened:
        yield opened


def event(delivery: str, due: datetime | None, status: EventStatus = EventStatus.PENDING) -> WebhookEvent:
    return WebhookEvent(
        delivery, "create", "tag", "acme/app", "v1.0.0-uat", "v1.0.0", "uat", status, T0, T0, due, detail="test"
    )


def lead(ledger: Ledger, holder: str, at: datetime = T0) -> LeaseToken:
    state = ledger.acquire_lease(LEASE, holder, ttl=timedelta(seconds=30), at=at, takeover=True)
    assert state.holder == holder
    return LeaseToken(LEASE, holder, state.epoch)


def test_a_delivery_id_is_recorded_once(ledger: Ledger) -> None:
    events = ledger
    assert events.record_webhook_event(event("d-1", T0))
    assert not events.record_webhook_event(event("d-1", T0 + timedelta(hours=1)))  # a redelivery
    rows = events.list_webhook_events()
    assert len(rows) == 1 and rows[0].due_at == T0 and rows[0].received_at == T0
    assert rows[0].trigger == "event:d-1"


def test_due_events_earliest_first_and_only_pending_ones(ledger: Ledger) -> None:
    events = ledger
    events.record_webhook_event(event("late", T0 + timedelta(hours=2)))
    events.record_webhook_event(event("soon", T0 + timedelta(minutes=1)))
    events.record_webhook_event(event("now", T0))
    events.record_webhook_event(event("ignored", None, EventStatus.IGNORED))
    assert [e.delivery_id for e in events.due_webhook_events(T0 + timedelta(minutes=1))] == ["now", "soon"]
    assert [e.delivery_id for e in events.due_webhook_events(T0 + timedelta(days=1))] == ["now", "soon", "late"]


def test_only_the_lease_holder_claims_and_a_claim_is_taken_once(ledger: Ledger) -> None:
    events = ledger
    events.record_webhook_event(event("d-1", T0))
    leader = lead(ledger, "a")
    assert not events.claim_webhook_event("d-1", lease=LeaseToken(LEASE, "b", leader.epoch), at=T0)  # not the leader
    assert events.claim_webhook_event("d-1", lease=leader, at=T0)
    assert not events.claim_webhook_event("d-1", lease=leader, at=T0)  # already running
    assert events.due_webhook_events(T0 + timedelta(hours=1)) == []
    assert events.finish_webhook_event("d-1", status=EventStatus.DONE, at=T0, detail="ran", run_id="r-1")
    done = events.get_webhook_event("d-1")
    assert done is not None and (done.status, done.holder, done.run_id) == (EventStatus.DONE, "a", "r-1")


def test_running_events_of_a_gone_leader_are_queued_again(ledger: Ledger) -> None:
    events = ledger
    events.record_webhook_event(event("d-1", T0))
    events.claim_webhook_event("d-1", lease=lead(ledger, "a"), at=T0)
    assert events.requeue_webhook_events(except_holder="a") == []
    assert events.requeue_webhook_events(except_holder="b") == ["d-1"]
    again = events.get_webhook_event("d-1")
    assert again is not None and again.status is EventStatus.PENDING and again.holder is None
    assert [e.delivery_id for e in events.due_webhook_events(T0)] == ["d-1"]
