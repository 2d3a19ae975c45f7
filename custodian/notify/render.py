"""The messages of a batch: plain text (email, mbox), Markdown (GitHub issue), Slack Block Kit and a
Microsoft Teams Adaptive Card, from Jinja2 templates shipped in `custodian/notify/templates/`.

`notifications.templates_dir` overrides them by name (`notice.txt.j2`, `notice.md.j2`); a missing
override falls back to the shipped template. Autoescaping is off (none of these is HTML); Slack and
Teams get the text in their own JSON structures, never interpolated into JSON by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

from custodian.notify.notices import Batch

_SLACK_TEXT_LIMIT = 3000  # a section block's text
_SLACK_BLOCKS_LIMIT = 50


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    markdown: str


class Renderer:
    def __init__(self, templates_dir: Path | None = None) -> None:
        loaders: list[Any] = [PackageLoader("custodian.notify", "templates")]
        if templates_dir is not None:
            loaders.insert(0, FileSystemLoader(str(templates_dir)))
        self._env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=False,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def message(self, batch: Batch, run_id: str) -> Message:
        count = len(batch.notices)
        soonest = batch.notices[0].delete_at.strftime("%Y-%m-%d %H:%M UTC")
        subject = f"[release-custodian] {count} object(s) of yours will be deleted, the first not before {soonest}"
        values = {"batch": batch, "run_id": run_id}
        return Message(
            subject,
            self._env.get_template("notice.txt.j2").render(values),
            self._env.get_template("notice.md.j2").render(values),
        )


def slack_payload(message: Message, batch: Batch) -> dict[str, Any]:
    """An incoming-webhook payload: `text` (the notification's fallback) and Block Kit blocks."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150]}},
    ]
    if not batch.notices:  # a digest: its text
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": message.markdown[:_SLACK_TEXT_LIMIT]}})
    for notice in batch.notices[: _SLACK_BLOCKS_LIMIT - 2]:
        cost = f"{notice.cost.monthly:.2f} {notice.cost.currency}/month" if notice.cost else "-"
        keep = "\n".join(f"`{way}`" for way in notice.keep)
        text = (
            f"*{notice.subject.kind} {notice.subject.provider_name}*\n{notice.rule}: {notice.why}\n"
            f"not before {notice.delete_at:%Y-%m-%d %H:%M UTC} · {cost}\nto keep it: {keep}"
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:_SLACK_TEXT_LIMIT]}})
    if len(batch.notices) > _SLACK_BLOCKS_LIMIT - 2:
        more = len(batch.notices) - (_SLACK_BLOCKS_LIMIT - 2)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {more} more"}]})
    return {"text": message.subject, "blocks": blocks}


def teams_payload(message: Message, batch: Batch) -> dict[str, Any]:
    """A Teams incoming-webhook (Workflows) message carrying one Adaptive Card 1.4."""
    facts = [
        {
            "title": f"{n.subject.kind} {n.subject.provider_name}",
            "value": f"{n.rule}, not before {n.delete_at:%Y-%m-%d %H:%M UTC}"
            + (f", {n.cost.monthly:.2f} {n.cost.currency}/month" if n.cost else ""),
        }
        for n in batch.notices
    ]
    keep = [way for n in batch.notices for way in n.keep[:1]]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "wrap": True},
            {"type": "FactSet", "facts": facts},
            {"type": "TextBlock", "text": "To keep one: " + "; ".join(keep), "wrap": True, "isSubtle": True},
        ]
        if batch.notices
        else [  # a digest: its text
            {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": message.text, "wrap": True},
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
