"""Rule HOLD: an expired hold that nobody released stops protecting its target (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from custodian.model import Finding, Hold, Severity, Status, Subject, Verdict
from custodian.rules.lifecycle import iso


def expired_holds(holds: Sequence[Hold], now: datetime) -> list[Verdict]:
    out = []
    for hold in holds:
        if hold.released_at is not None or now < hold.until:
            continue
        finding = Finding(
            "HOLD",
            Status.WARN,
            Severity.MEDIUM,
            Subject(provider="custodian", kind="hold", provider_name=hold.hold_id, logical_name=hold.target),
            f"hold {hold.hold_id} on {hold.target_type.value} {hold.target} expired at {iso(hold.until)} "
            "and no longer protects it",
            {"placed_by": hold.placed_by, "reason": hold.reason, "until": iso(hold.until)},
            "Renew the hold if the target must stay, or let the custodian proceed.",
        )
        out.append(Verdict(finding))
    return out
