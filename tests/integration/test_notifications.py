"""Owners hear before anything is deleted: mark (or find due), notify, then delete.

Against the seed sandbox with real receivers: an SMTP server requiring STARTTLS and AUTH (aiosmtpd),
an HTTP receiver for Slack and Teams, issues on the GitHub emulator and an mbox file. The seed's
v0.0.1 accounts are past their retention (L3): without notifications the first applied run deletes
them; with notifications it tells their owners and deletes them only `notify_before` later.
"""

from __future__ import annotations

import json
import mailbox
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from custodian.config import Config
from custodian.config.notifications import NotificationsConfig
from custodian.model import ActionKind, ActionOutcome, RunMode, Status
from custodian.notify.send import DeliveryStatus
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from tests.integration.conftest import Env
from tests.notify.receivers import PASSWORD, USER, Mailbox, WebhookReceiver, smtp_server, webhook_receiver

SLACK, TEAMS = "/services/T0/B0/slack-canary-9f3", "/workflows/teams-canary-71c"
ORG_OWNER, DEFAULT_OWNER = "platform-team@example.com", "release-managers@example.com"


def _notifications(channels: dict[str, Any], **extra: Any) -> NotificationsConfig:
    return NotificationsConfig.model_validate(
        {"fallback": {"default": DEFAULT_OWNER, "orgs": {"ACME": ORG_OWNER}}, "channels": channels, **extra}
    )


@pytest.fixture()
def receivers(tmp_path: Path) -> Iterator[tuple[int, Path, Mailbox, WebhookReceiver]]:
    with smtp_server(tmp_path) as (port, bundle, box), webhook_receiver() as hooks:
        yield port, bundle, box, hooks


def _all_channels(env: Env, monkeypatch: pytest.MonkeyPatch, receivers: Any) -> Config:
    port, bundle, _box, hooks = receivers
    monkeypatch.setenv("RC_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("RC_SLACK_URL", hooks.url(SLACK))
    monkeypatch.setenv("RC_TEAMS_URL", hooks.url(TEAMS))
    channels = {
        "email": {
            "host": "127.0.0.1",
            "port": port,
            "ca_bundle": str(bundle),
            "username": USER,
            "password": {"env": "RC_SMTP_PASSWORD"},
            "sender": "release-custodian@example.com",
        },
        "slack": {"url": {"env": "RC_SLACK_URL"}},
        "teams": {"url": {"env": "RC_TEAMS_URL"}},
        "github_issue": {},
        "mailbox": {"path": str(env.tmp / "notices.mbox")},
    }
    return env.config.model_copy(update={"notifications": _notifications(channels)})


def _apply(env: Env, config: Config, *, apply: bool = True) -> RunOutcome:
    return run_lifecycle(
        config, RunRequest(RunMode.ENFORCE, apply=apply), ledger=env.ledger, clock=env.sandbox.clock.now
    )


def _deleted(outcome: RunOutcome) -> set[str]:
    return {
        r.action.subject.provider_name
        for r in outcome.result.actions
        if r.action.kind is ActionKind.DELETE_ACCOUNT and r.outcome is ActionOutcome.DONE
    }


def test_owners_hear_on_every_channel_and_deletion_waits_notify_before(
    seed_env: Env, monkeypatch: pytest.MonkeyPatch, receivers: Any
) -> None:
    config = _all_channels(seed_env, monkeypatch, receivers)
    _port, _bundle, box, hooks = receivers
    store = seed_env.sandbox.github.store  # type: ignore[union-attr]

    first = _apply(seed_env, config)
    assert _deleted(first) == set()  # due (L3), but nobody has been told yet
    assert store.user("v0-0-1-qa-gh-sa") is not None
    l3 = [f for f in first.result.findings if f.rule == "L3" and f.subject.version == "v0.0.1"]
    assert l3 and all(f.status is Status.FAIL and "not been notified" in f.message for f in l3), [
        f.message for f in l3 if "not been notified" not in f.message
    ]
    revoked = {r.action.kind for r in first.result.actions if r.outcome is ActionOutcome.DONE}
    assert ActionKind.DISABLE in revoked  # revocation never waits for a notice

    # one message per owner per channel: the accounts' owner is who published their version's release
    author = store.principal_login
    assert [to for _, tos in box.envelopes for to in tos] == [DEFAULT_OWNER]  # a login: mail to the fallback
    (mail,) = [m.get_payload() for m in box.messages]
    assert "v0-0-1-qa-gh-sa" in mail and "why:     L3: v0.0.1-qa-gh-sa still exists" in mail
    assert "release-custodian hold add --account v0.0.1-qa-gh-sa" in mail and "acr-sa" in mail
    assert "not before" in mail and "the author of its version's release" in mail
    assert "=\n" not in mail  # plain 7bit text: no quoted-printable soft breaks
    assert all(m["Subject"].startswith("[release-custodian]") for m in box.messages)
    slack, teams = hooks.of(SLACK), hooks.of(TEAMS)
    assert len(slack) == 1 and slack[0]["blocks"][0]["type"] == "header"
    assert "v0-0-1-qa-gh-sa" in json.dumps(slack[0])
    assert len(teams) == 1
    card = teams[0]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive" and card["content"]["version"] == "1.4"
    issues = seed_env.sandbox.github.issues_of("acme/product")  # type: ignore[union-attr]
    assert len(issues) == 1 and issues[0]["labels"][0]["name"] == "release-custodian"
    assert issues[0]["body"].startswith(f"@{author}")  # the issue mentions the release's author
    assert len(mailbox.mbox(str(seed_env.tmp / "notices.mbox"))) == 1
    assert (seed_env.tmp / "notices.mbox").stat().st_mode & 0o777 == 0o600

    second = _apply(seed_env, config)  # a rerun: nothing sent twice, nothing deleted yet
    assert _deleted(second) == set()
    assert len(box.messages) == 1 and len(hooks.posts) == 2 and len(issues) == 1
    assert second.notices is not None and second.notices.deliveries == ()

    seed_env.sandbox.clock.advance(timedelta(hours=24, minutes=1))
    third = _apply(seed_env, config)
    assert {"v0-0-1-qa-gh-sa", "v0-0-1-uat-gh-sa", "v0-0-1-prod-gh-sa"} <= _deleted(third)
    assert store.user("v0-0-1-qa-gh-sa") is None
    assert len(box.messages) == 1 and len(hooks.posts) == 2  # still nothing sent twice


def test_a_failing_channel_is_a_warning_and_its_deletions_wait_until_a_notice_went_out(
    seed_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    with webhook_receiver() as hooks:
        hooks.status = 500
        monkeypatch.setenv("RC_SLACK_URL", hooks.url(SLACK))
        config = seed_env.config.model_copy(
            update={"notifications": _notifications({"slack": {"url": {"env": "RC_SLACK_URL"}}})}
        )
        first = _apply(seed_env, config)
        warn = [f for f in first.result.findings if f.rule == "NOTIFY"]
        assert len(warn) == 1 and warn[0].status is Status.WARN and "HTTP 500" in warn[0].message
        assert SLACK not in warn[0].message and "canary" not in json.dumps(warn[0].evidence)  # the URL is a secret
        assert _deleted(first) == set() and len(hooks.posts) == 1  # tried, one message for the one owner

        seed_env.sandbox.clock.advance(timedelta(days=3))
        retried = _apply(seed_env, config)  # never notified: however late, nothing is deleted
        assert _deleted(retried) == set() and len(hooks.posts) == 2
        assert any(f.rule == "NOTIFY" for f in retried.result.findings)

        hooks.status = 200
        told = _apply(seed_env, config)
        assert _deleted(told) == set() and not any(f.rule == "NOTIFY" for f in told.result.findings)
        sent = [d for d in told.notices.deliveries if d.status is DeliveryStatus.SENT]  # type: ignore[union-attr]
        assert len(sent) == 1
        seed_env.sandbox.clock.advance(timedelta(hours=24, minutes=1))
        assert "v0-0-1-qa-gh-sa" in _deleted(_apply(seed_env, config))


def test_a_dry_run_renders_the_notices_and_sends_nothing(seed_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    with webhook_receiver() as hooks:
        monkeypatch.setenv("RC_SLACK_URL", hooks.url(SLACK))
        config = seed_env.config.model_copy(
            update={"notifications": _notifications({"slack": {"url": {"env": "RC_SLACK_URL"}}})}
        )
        plan = _apply(seed_env, config, apply=False)
        assert plan.notices is not None
        assert {d.status for d in plan.notices.deliveries} == {DeliveryStatus.PLANNED}
        assert "v0-0-1-qa-gh-sa" in " ".join(d.message.text for d in plan.notices.deliveries)
        assert hooks.posts == [] and seed_env.ledger.first_notice_times() == {}
        audit = run_lifecycle(
            config, RunRequest(RunMode.AUDIT), ledger=seed_env.ledger, clock=seed_env.sandbox.clock.now
        )
        assert audit.notices is None and hooks.posts == []


def test_no_secret_reaches_a_message_the_ledger_or_a_report(
    seed_env: Env, monkeypatch: pytest.MonkeyPatch, receivers: Any
) -> None:
    config = _all_channels(seed_env, monkeypatch, receivers)
    _port, _bundle, box, hooks = receivers
    _apply(seed_env, config)
    canaries = [PASSWORD, "slack-canary-9f3", "teams-canary-71c", seed_env.sandbox.env.as_env()["GITHUB_TOKEN"]]
    said = [m.as_string() for m in box.messages] + [json.dumps(body) for _, body in hooks.posts]
    said += [json.dumps(i) for i in seed_env.sandbox.github.issues_of("acme/product")]  # type: ignore[union-attr]
    said += [
        row.detail for run in seed_env.ledger.list_runs() for row in seed_env.ledger.notices_of_run(run.info.run_id)
    ]
    said += [p.read_text(errors="replace") for p in (seed_env.tmp / "reports").rglob("*") if p.is_file()]
    assert said and not [c for c in canaries for text in said if c in text]


def test_a_configuration_without_a_channel_or_a_fallback_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one channel"):
        _notifications({})
    with pytest.raises(ValueError, match="fallback"):
        NotificationsConfig.model_validate({"channels": {"mailbox": {"path": "x.mbox"}}})
    with pytest.raises(ValueError, match="more than zero"):
        _notifications({"mailbox": {"path": "x.mbox"}}, notify_before="0s")
