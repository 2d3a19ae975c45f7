"""The `digest` job's finance and security digests, sent on the notification channels (an mbox and a
Slack receiver here): what was found and reclaimed, revocations done, what is overdue, who holds what."""

from __future__ import annotations

import mailbox
from datetime import timedelta

import pytest

from custodian.config.notifications import NotificationsConfig
from custodian.model import RunInfo, RunMode
from custodian.providers.wire import CallCounter
from custodian.run import RunRequest, run_lifecycle
from custodian.run.context import Providers, RunTuning
from custodian.service.digest_notices import finance_message, send_digests
from tests.integration.conftest import Env
from tests.notify.receivers import webhook_receiver


def _costs(found: str, reclaimed: str) -> dict[str, object]:
    return {"currency": "USD", "found": found, "reclaimed": reclaimed, "held": "11.52", "needs_decision": "280.32"}


def test_the_finance_digest_sums_what_the_window_reclaimed(seed_env: Env) -> None:
    ledger, start = seed_env.ledger, seed_env.sandbox.clock.now()
    for index, (found, reclaimed) in enumerate((("218.43", "0.00"), ("218.43", "200.00"), ("18.43", "18.43"))):
        at = start + timedelta(hours=index * 13)
        ledger.start_run(RunInfo(f"r{index}", at, None, RunMode.ENFORCE, True, "", "test"))
        ledger.finish_run(f"r{index}", at + timedelta(minutes=1), {}, "ok", _costs(found, reclaimed))
    records = ledger.runs_since(start - timedelta(days=1))
    message = finance_message(records, start - timedelta(days=1), start + timedelta(days=2))
    assert "Waste found now: 18.43 USD/month (221.16/year)" in message.text
    assert "Reclaimed in the window: 218.43 USD/month (2621.16/year)" in message.text
    assert "Needs a decision (report only, still billing): 280.32 USD/month" in message.text
    assert f"{start.date()}: found 218.43, reclaimed 0.00 (1 run(s))" in message.text
    empty = finance_message([], start, start + timedelta(days=7))
    assert "No priced run" in empty.text


def test_security_and_finance_digests_reach_their_recipients(seed_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    with webhook_receiver() as hooks:
        monkeypatch.setenv("RC_SLACK_URL", hooks.url("/digest"))
        notifications = NotificationsConfig.model_validate(
            {
                "fallback": {"default": "ops@example.com"},
                "channels": {
                    "mailbox": {"path": str(seed_env.tmp / "digests.mbox")},
                    "slack": {"url": {"env": "RC_SLACK_URL"}},
                },
                "digests": {"finance": ["finance@example.com"], "security": ["security@example.com"]},
            }
        )
        config = seed_env.config.model_copy(update={"notifications": None})
        since = seed_env.sandbox.clock.now() - timedelta(hours=1)
        run_lifecycle(
            config, RunRequest(RunMode.ENFORCE, apply=True), ledger=seed_env.ledger, clock=seed_env.sandbox.clock.now
        )
        config = config.model_copy(update={"notifications": notifications})
        providers = Providers(config, read_only=False, counter=CallCounter(), tuning=RunTuning())
        try:
            until = seed_env.sandbox.clock.now() + timedelta(minutes=1)
            sent = send_digests(config, seed_env.ledger, providers, since, until)
        finally:
            providers.close()
    assert sorted((s.digest, s.recipient, s.channel, s.ok) for s in sent) == [
        ("finance", "finance@example.com", "mailbox", True),
        ("finance", "finance@example.com", "slack", True),
        ("security", "security@example.com", "mailbox", True),
        ("security", "security@example.com", "slack", True),
    ]
    mails = {m["To"]: m.get_payload() for m in mailbox.mbox(str(seed_env.tmp / "digests.mbox"))}
    security = mails["security@example.com"]
    assert "Revocations done: " in security and "disable" in security and "delete_account" in security
    assert "Held: " in security and "v0.0.0" in security  # the seed's hold, with who placed it
    assert "No priced run" in mails["finance@example.com"]  # the accounts alone price nothing
    assert len(hooks.of("/digest")) == 2 and hooks.of("/digest")[0]["blocks"][1]["type"] == "section"
