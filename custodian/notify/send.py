"""Send a run's notices: one message per owner per channel, never the same notice twice.

For each channel, the notices whose (channel, target) already has a notice sent in the ledger are
left out (a rerun sends nothing new); the rest are batched per owner, at most
`max_messages_per_run` messages per channel (the others wait for the next run). Each notice is
journaled `sent` or `failed` with the channel's receipt or error. A failing channel is one WARN
finding (rule NOTIFY) naming the channel and the cause: never a crash, and the deletions it
announces wait (the gate sees no notice). A dry run renders the messages and sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from custodian.ledger.notices import NoticeRow, NoticesLedger, NoticeStatus
from custodian.model import Finding, Severity, Status, Subject
from custodian.notify.channels import Channel, ChannelError
from custodian.notify.notices import Batch, Notice, batches
from custodian.notify.render import Message, Renderer
from custodian.rules.registry import rule


class DeliveryStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    PLANNED = "planned"  # a dry run: what --apply would send
    DEFERRED = "deferred"  # over the channel's per-run limit: next run


@dataclass(frozen=True)
class Delivery:
    channel: str
    batch: Batch
    message: Message
    status: DeliveryStatus
    detail: str


@dataclass(frozen=True)
class NotifyOutcome:
    deliveries: tuple[Delivery, ...]
    findings: tuple[Finding, ...]
    already_sent: int  # (channel, target) pairs left out because an earlier run sent them


def send_notices(
    notices: Sequence[Notice],
    channels: Sequence[Channel],
    ledger: NoticesLedger,
    run_id: str,
    now: datetime,
    *,
    applied: bool,
    max_per_run: int,
    renderer: Renderer,
) -> NotifyOutcome:
    sent_before = ledger.notices_sent(n.target for n in notices)
    deliveries: list[Delivery] = []
    rows: list[NoticeRow] = []
    already = 0
    for channel in channels:
        pending = [n for n in notices if (channel.name, n.target) not in sent_before]
        already += len(notices) - len(pending)
        for index, batch in enumerate(batches(pending)):
            message = renderer.message(batch, run_id)
            if index >= max_per_run:
                deliveries.append(Delivery(channel.name, batch, message, DeliveryStatus.DEFERRED, "per-run limit"))
                continue
            if not applied:
                deliveries.append(Delivery(channel.name, batch, message, DeliveryStatus.PLANNED, "dry run"))
                continue
            try:
                receipt = channel.send(batch, message)
            except ChannelError as exc:
                deliveries.append(Delivery(channel.name, batch, message, DeliveryStatus.FAILED, str(exc)))
                rows += _rows(run_id, channel.name, batch, NoticeStatus.FAILED, now, str(exc))
                continue
            deliveries.append(Delivery(channel.name, batch, message, DeliveryStatus.SENT, receipt))
            rows += _rows(run_id, channel.name, batch, NoticeStatus.SENT, now, receipt)
    ledger.record_notices(rows)
    return NotifyOutcome(tuple(deliveries), tuple(_findings(deliveries)), already)


def _rows(run_id: str, channel: str, batch: Batch, status: NoticeStatus, at: datetime, detail: str) -> list[NoticeRow]:
    return [
        NoticeRow(run_id, channel, batch.owner, n.target, n.rule, status, n.delete_at, at, detail)
        for n in batch.notices
    ]


def _findings(deliveries: Sequence[Delivery]) -> list[Finding]:
    """One WARN per channel that failed or deferred, naming the cause and what waits."""
    out = []
    for channel in sorted({d.channel for d in deliveries}):
        troubled = [
            d
            for d in deliveries
            if d.channel == channel and d.status in (DeliveryStatus.FAILED, DeliveryStatus.DEFERRED)
        ]
        if not troubled:
            continue
        waiting = sum(len(d.batch.notices) for d in troubled)
        causes = sorted({d.detail for d in troubled})
        owners = sorted({d.batch.owner for d in troubled})
        out.append(
            Finding(
                "NOTIFY",
                Status.WARN,
                Severity.MEDIUM,
                Subject(provider="custodian", kind="channel", provider_name=channel),
                f"{len(troubled)} notice message(s) on {channel} not sent ({'; '.join(causes)[:300]}): "
                f"the {waiting} deletion(s) they announce wait for a notice",
                {"channel": channel, "owners": ", ".join(owners)[:500], "waiting": str(waiting)},
                rule("NOTIFY").remediation,
            )
        )
    return out
