"""Owners, batches, keep instructions and the messages, as pure functions (the integration tests send them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from custodian.config.notifications import Fallback
from custodian.engine.gate import NoticeIndex, Refusal
from custodian.model import (
    AccountKind,
    AzureResource,
    Cost,
    Provider,
    ReleaseTimeline,
    ResourceKind,
    Scope,
    ServiceAccount,
    StageStart,
    StartEvidence,
    Subject,
    Tags,
)
from custodian.notify.notices import Notice, batches, keep_instructions
from custodian.notify.owners import owner_of
from custodian.notify.render import Renderer, slack_payload, teams_payload

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SUB = "11111111-1111-4111-8111-111111111111"
FALLBACK = Fallback(
    default="ops@example.com", subscriptions={SUB.upper(): "qa@example.com"}, orgs={"acme": "gh@example.com"}
)


def _disk(**tags: str) -> AzureResource:
    rid = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
    return AzureResource(
        rid, ResourceKind.DISK, "d1", Scope.subscription(SUB), "rg", "eastus", "Microsoft.Compute/disks", Tags(tags)
    )


def _account(org: str = "acme") -> ServiceAccount:
    return ServiceAccount(Provider.GITHUB, AccountKind.GH, "v0-0-1-qa-gh-sa", f"github:{org}", Scope.github(org), True)


def test_an_owner_tag_wins_its_key_compared_case_insensitively() -> None:
    assert owner_of(_disk(Owner="alice@example.com"), ["owner"], FALLBACK) == ("alice@example.com", "tag owner")
    assert owner_of(_disk(**{"created-by": "bob"}), ["owner", "created-by"], FALLBACK)[0] == "bob"


def test_without_a_tag_the_scope_fallback_then_the_default() -> None:
    assert owner_of(_disk(), ["owner"], FALLBACK)[0] == "qa@example.com"  # subscription ids: any case
    assert owner_of(_disk(owner="  "), ["owner"], FALLBACK)[0] == "qa@example.com"  # a blank tag names nobody
    assert owner_of(_account(), ["owner"], FALLBACK)[0] == "gh@example.com"
    assert owner_of(_account("other"), ["owner"], FALLBACK) == ("ops@example.com", "default fallback")
    repos = Fallback(default="ops@example.com", repositories={"acme/product": "rel@example.com"})
    assert owner_of(_account("other"), ["owner"], repos, ["ACME/product"])[0] == "rel@example.com"
    assert owner_of(None, ["owner"], FALLBACK)[0] == "ops@example.com"  # a target gone since: still someone


def test_keep_instructions_name_the_hold_for_the_account_the_version_and_the_tag() -> None:
    account = Subject("github", "gh-sa", "v0-0-1-qa-gh-sa", logical_name="v0.0.1-qa-gh-sa", version="v0.0.1")
    ways = keep_instructions(account, _account(), "custodian-hold")
    assert ways[0].startswith("release-custodian hold add --account v0.0.1-qa-gh-sa ")
    assert ways[1].startswith("release-custodian hold add --version v0.0.1 ") and len(ways) == 2
    disk = Subject("azure", "disk", "d1")
    assert keep_instructions(disk, _disk(), "custodian-hold") == (
        "set the tag custodian-hold=<why> on it (a blob: the index tag)",
    )


def _notice(owner: str, name: str, hours: int, cost: str | None = None) -> Notice:
    money = Cost(Decimal(cost), "USD", "price table") if cost else None
    subject = Subject("azure", "disk", name, version="v0.0.1", stage="qa")
    when = NOW + timedelta(hours=hours)
    return Notice(
        f"k:{name}", subject, "L4", "a leftover of v0.0.1 qa", when, money, ('keep <it> | "now"',), owner, "tag owner"
    )


def test_one_batch_per_owner_case_insensitive_soonest_first() -> None:
    grouped = batches([_notice("A@x.io", "b", 30), _notice("a@x.io", "a", 25), _notice("c@x.io", "c", 26)])
    assert [(b.owner, [n.subject.provider_name for n in b.notices]) for b in grouped] == [
        ("A@x.io", ["a", "b"]),
        ("c@x.io", ["c"]),
    ]


def test_the_messages_say_what_why_when_cost_and_how_to_keep(tmp_path: Path) -> None:
    batch = batches([_notice("alice@x.io", "disk-1", 25, "12.50"), _notice("alice@x.io", "disk|2", 26)])[0]
    message = Renderer().message(batch, "run-1")
    assert "2 object(s)" in message.subject and "2026-12-02 13:00 UTC" in message.subject
    for text in (
        "disk disk-1",
        "L4: a leftover of v0.0.1 qa",
        "not before 2026-12-02 13:00 UTC",
        "12.50 USD/month",
        'keep <it> | "now"',
        "run run-1",
    ):
        assert text in message.text, text
    assert "disk\\|2" in message.markdown  # a table cell cannot be broken by a name
    slack = slack_payload(message, batch)
    assert slack["text"] == message.subject and slack["blocks"][1]["text"]["type"] == "mrkdwn"
    card = teams_payload(message, batch)["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and len(card["body"][1]["facts"]) == 2
    (tmp_path / "notice.txt.j2").write_text("{{ batch.owner }}: {{ batch.notices | length }} ({{ run_id }})\n")
    overridden = Renderer(tmp_path).message(batch, "run-2")
    assert overridden.text == "alice@x.io: 2 (run-2)\n" and "disk-1" in overridden.markdown  # md: the shipped one


def test_the_gate_waits_until_notify_before_after_the_first_notice() -> None:
    index = NoticeIndex({"k:a": NOW - timedelta(hours=2)}, timedelta(hours=24))
    never = index.waiting("k:b", NOW)
    assert never is not None and never.refusal is Refusal.NOT_NOTIFIED and "not been notified" in never.detail
    early = index.waiting("k:a", NOW)
    assert early is not None and "not before 2026-12-02T10:00:00Z" in early.detail
    assert index.waiting("k:a", NOW + timedelta(hours=22)) is None


def test_an_account_s_owner_is_who_released_its_version_else_the_fallback() -> None:
    assert owner_of(_account(), ["owner"], FALLBACK, release_author="alice") == (
        "alice",
        "the author of its version's release",
    )
    assert owner_of(_disk(), ["owner"], FALLBACK, release_author="alice")[0] == "qa@example.com"  # resources: tags
    starts = (
        StageStart("v1.0.0", "uat", NOW, "release v1.0.0-uat", StartEvidence.RELEASE, "bob"),
        StageStart("v1.0.0", "qa", NOW - timedelta(days=2), "tag v1.0.0-qa (tagger date)"),
        StageStart("v1.0.0", "qa", NOW - timedelta(days=1), "release v1.0.0-qa", StartEvidence.RELEASE, "carol"),
    )
    timeline = ReleaseTimeline(("qa", "uat", "prod"), starts)
    assert timeline.author("v1.0.0") == "carol" and timeline.author("v9.9.9") is None
