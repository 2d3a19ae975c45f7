"""The `digest` job's messages: a finance digest and a security digest, sent on the notification channels.

- finance: waste found (the latest priced run's), reclaimed (the window's sum), held and needs a
  decision (the latest), per month and per year, and the trend per day;
- security: the revocations done in the window (accounts disabled, credentials invalidated or
  deleted), what is overdue now (L1/L2 still failing in the latest run) and the accounts and
  versions held, with who holds them, why and until when.

Recipients are `notifications.digests.finance` / `.security`; each gets one message per channel per
digest slot (the scheduler runs a slot once). A failing channel is logged and counted, never a crash.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from custodian.config import Config
from custodian.ledger.store import Ledger, RunRecord
from custodian.model import ActionKind, ActionOutcome, Status
from custodian.notify.channels import Channel, ChannelError
from custodian.notify.notices import Batch
from custodian.notify.render import Message
from custodian.reports import per_day
from custodian.reports.costs import money, per_year
from custodian.run.context import Providers
from custodian.run.notifications import build_channels
from custodian.run.report_inputs import cost_points

_LOG = logging.getLogger("release_custodian.digest")
_REVOKING = frozenset(
    {
        ActionKind.DISABLE,
        ActionKind.REMOVE_CREDENTIALS,
        ActionKind.REVOKE_PAT_GRANTS,
        ActionKind.DELETE_IMPERSONATION_TOKENS,
        ActionKind.DELETE_SSH_KEYS,
        ActionKind.REMOVE_MEMBERSHIP,
        ActionKind.DELETE_ACCOUNT,
    }
)


@dataclass(frozen=True)
class DigestSent:
    digest: str  # finance | security
    recipient: str
    channel: str
    ok: bool
    detail: str


def finance_message(records: Sequence[RunRecord], since: datetime, until: datetime) -> Message:
    points = cost_points(sorted(records, key=lambda r: r.info.started_at))
    span = f"{since:%Y-%m-%d} to {until:%Y-%m-%d}"
    subject = f"[release-custodian] finance digest, {span}"
    if not points:
        text = f"No priced run between {span}: nothing was found or reclaimed."
        return Message(subject, text + "\n", text + "\n")
    last, currency = points[-1], points[-1].currency
    reclaimed = sum((p.reclaimed for p in points if p.currency == currency), Decimal(0))
    lines = [
        f"Waste found now: {money(last.found)} {currency}/month ({money(per_year(last.found))}/year)",
        f"Reclaimed in the window: {money(reclaimed)} {currency}/month ({money(per_year(reclaimed))}/year)",
        f"Held (kept on purpose): {money(last.held)} {currency}/month",
        f"Needs a decision (report only, still billing): {money(last.needs_decision)} {currency}/month",
        "",
        "Per day (found: the day's most; reclaimed: the day's sum):",
    ]
    for day in per_day(p for p in points if p.currency == currency):
        lines.append(f"  {day.day}: found {money(day.found)}, reclaimed {money(day.reclaimed)} ({day.runs} run(s))")
    text = "\n".join(lines) + "\n"
    return Message(
        subject, text, "\n".join(f"- {line}" if line and not line.startswith(" ") else line for line in lines)
    )


def security_message(ledger: Ledger, records: Sequence[RunRecord], since: datetime, until: datetime) -> Message:
    span = f"{since:%Y-%m-%d} to {until:%Y-%m-%d}"
    done: Counter[str] = Counter()
    for record in records:
        for action in ledger.actions_for_run(record.info.run_id):
            if action.outcome is ActionOutcome.DONE and action.action.kind in _REVOKING:
                done[action.action.kind.value] += 1
    finished = [r for r in sorted(records, key=lambda r: r.info.started_at) if r.finished and r.info.as_of is None]
    overdue = []
    if finished:
        overdue = [
            f"{f.rule} {f.subject.logical_name or f.subject.provider_name}"
            for f in ledger.findings_for_run(finished[-1].info.run_id)
            if f.rule in ("L1", "L2") and f.status is Status.FAIL
        ]
    holds = ledger.holds_active_at(until)
    lines = [
        "Revocations done: " + (", ".join(f"{n} {k}" for k, n in sorted(done.items())) or "none"),
        f"Overdue now (a stage's credentials still working after its hand-off): {len(overdue)}",
        *[f"  {item}" for item in overdue[:20]],
        f"Held: {len(holds)}",
        *[
            f"  {h.target_type.value} {h.target}: by {h.placed_by} until {h.until:%Y-%m-%d %H:%M} UTC ({h.reason})"
            for h in holds[:20]
        ],
    ]
    text = "\n".join(lines) + "\n"
    return Message(f"[release-custodian] security digest, {span}", text, text)


def send_digests(
    config: Config, ledger: Ledger, providers: Providers, since: datetime, until: datetime
) -> list[DigestSent]:
    """Send the digests to their recipients on every configured channel; what was sent, per recipient."""
    settings = config.notifications
    if settings is None or not (settings.digests.finance or settings.digests.security):
        return []
    records = [r for r in ledger.runs_since(since) if r.info.started_at < until]
    messages = {
        "finance": (settings.digests.finance, finance_message(records, since, until)),
        "security": (settings.digests.security, security_message(ledger, records, since, until)),
    }
    channels = build_channels(config, providers)
    sent: list[DigestSent] = []
    for name, (recipients, message) in messages.items():
        for recipient in recipients:
            sent += [_send(channel, name, recipient, message) for channel in channels]
    return sent


def _send(channel: Channel, digest: str, recipient: str, message: Message) -> DigestSent:
    try:
        receipt = channel.send(Batch(recipient, ()), message)
    except ChannelError as exc:
        _LOG.warning(f"{digest} digest to {recipient} on {channel.name} not sent: {exc}")
        return DigestSent(digest, recipient, channel.name, False, str(exc))
    return DigestSent(digest, recipient, channel.name, True, receipt)
