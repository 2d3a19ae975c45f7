"""How a run notifies owners: the gate's notice index, the configured channels, and the notify step.

The step runs in enforce runs only, after the actions: an applied run sends (and journals), a dry
run renders what it would send. Audits never notify.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from custodian.config import Config
from custodian.engine.gate import NoticeIndex
from custodian.engine.holds import Target
from custodian.engine.plan import Plan
from custodian.ledger.store import Ledger
from custodian.model import ActionRecord, Finding, ReleaseTimeline
from custodian.notify.channels import Channel, EmailSender, GithubIssueSender, MailboxSender, WebhookSender
from custodian.notify.notices import NoticeSettings, upcoming_deletions
from custodian.notify.render import Renderer
from custodian.notify.send import NotifyOutcome, send_notices
from custodian.run.context import Providers


def notice_index(config: Config, ledger: Ledger) -> NoticeIndex | None:
    """What the gate needs to make deletions wait for their notice (None: notifications are off)."""
    if config.notifications is None:
        return None
    return NoticeIndex(ledger.first_notice_times(), config.notifications.notify_before)


def build_channels(config: Config, providers: Providers) -> list[Channel]:
    """The configured channels, their secrets read now (a missing one is a ConfigError naming the key)."""
    settings = config.notifications
    assert settings is not None
    chosen = settings.channels
    channels: list[Channel] = []
    if chosen.email is not None:
        password = chosen.email.password.resolve() if chosen.email.password is not None else None
        channels.append(EmailSender(chosen.email, settings.fallback.default, password))
    if chosen.slack is not None:
        channels.append(WebhookSender("slack", chosen.slack, chosen.slack.url.resolve()))
    if chosen.teams is not None:
        channels.append(WebhookSender("teams", chosen.teams, chosen.teams.url.resolve()))
    if chosen.github_issue is not None:
        repository = chosen.github_issue.repository or config.github.release_repos[0]
        channels.append(GithubIssueSender(chosen.github_issue, providers.github.github, repository))
    if chosen.mailbox is not None:
        channels.append(MailboxSender(chosen.mailbox.path))
    return channels


def notify_owners(
    config: Config,
    ledger: Ledger,
    providers: Providers,
    run_id: str,
    plan: Plan,
    records: Sequence[ActionRecord],
    findings: Sequence[Finding],
    targets: Mapping[str, Target],
    now: datetime,
    *,
    applied: bool,
    timeline: ReleaseTimeline | None = None,
) -> NotifyOutcome | None:
    settings = config.notifications
    if settings is None:
        return None
    notices = upcoming_deletions(
        records,  # a dry run's are PLANNED: what it would mark, it would announce
        plan.waiting,
        findings,
        targets,
        now,
        NoticeSettings(
            settings,
            config.reaper.hold_tag if config.reaper else None,
            config.github.release_repos,
            _release_authors(timeline),
        ),
    )
    return send_notices(
        notices,
        build_channels(config, providers),
        ledger,
        run_id,
        now,
        applied=applied,
        max_per_run=settings.channels.max_messages_per_run,
        renderer=Renderer(settings.templates_dir),
    )


def _release_authors(timeline: ReleaseTimeline | None) -> dict[str, str]:
    if timeline is None:
        return {}
    return {version: author for version in timeline.versions() if (author := timeline.author(version))}
