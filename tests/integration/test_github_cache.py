"""GitHub reads kept between runs (issue 12): facts read once, conditional requests, the rate-limit budget.

Everything goes over real HTTP to the GitHub emulator through the real PyGithub client; the
emulator's request log and its rate-limit accounting are the evidence. Nothing is patched. The
timeline is read over REST here (`api: rest`), where these caches apply; GraphQL's batched
listings are tested in `test_github_graphql`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from github import GithubException

from custodian.config import Config, parse_config
from custodian.ledger import schema as t
from custodian.ledger.store import Ledger
from custodian.model import RunMode, Status
from custodian.providers.github.accounts import GithubAccountReader
from custodian.providers.github.budget import RateLimitExhausted
from custodian.providers.github.cache import GithubCache
from custodian.providers.github.client import GithubSession, GithubSettings
from custodian.providers.github.timeline import collect_timeline
from custodian.providers.wire import CallCounter
from custodian.run import RunOutcome, RunRequest, RunTuning, run_lifecycle
from custodian.sandbox.arm import start_arm
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.github import GithubEmulator, start_github
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.tls import SandboxTLS

SUB = "11111111-1111-4111-8111-111111111111"
REPO = "acme/product"
VERSIONS = 4
ACCOUNTS_ONLY = RunRequest(RunMode.AUDIT, parts=frozenset({"accounts"}))


@dataclass
class World:
    github: GithubEmulator
    server: EmulatorServer
    arm_url: str
    ca: Path
    clock: SandboxClock
    tmp: Path

    def session(self) -> GithubSession:
        settings = GithubSettings(f"{self.server.url}/api/v3", "t0ken", "acme", enterprise=True, api="rest")
        return GithubSession(settings, CallCounter())

    def config(self) -> Config:
        os.environ["CACHE_TEST_TOKEN"] = "t0ken"
        return parse_config(
            f"""
github: {{mode: enterprise-server, base_url: "{self.server.url}/api/v3", org: acme, release_repos: [{REPO}],
          token: {{env: CACHE_TEST_TOKEN}}, api: rest}}
azure: {{arm_endpoint: "{self.arm_url}", ca_bundle: "{self.ca}", subscriptions: [{SUB}],
         access_token: {{env: CACHE_TEST_TOKEN}}, registries: []}}
ledger: {{url: "sqlite:///{self.tmp / "ledger.sqlite"}"}}
reports: {{directory: "{self.tmp / "reports"}"}}
""",
            "test",
        )

    def audit(self, ledger: Ledger, *, cached: bool = True) -> RunOutcome:
        tuning = RunTuning(github_cache=cached)
        return run_lifecycle(self.config(), ACCOUNTS_ONLY, ledger=ledger, clock=self.clock.now, tuning=tuning)

    def log(self, contains: str = "") -> list[tuple[str, int]]:
        return [(r.path, r.status) for r in self.server.requests if contains in r.path]

    def used(self) -> int:
        return int(self.github._rate_snapshot()["used"])


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[World]:
    clock = SandboxClock(datetime(2026, 11, 1, 12, tzinfo=UTC))
    tls = SandboxTLS(tmp_path / "tls")
    arm, arm_server = start_arm(tls, page_size=100, clock=clock)
    github, server = start_github(clock=clock)
    arm.store.add_subscription(SUB, "test")
    store = github.store
    store.add_org("acme")
    store.add_user("octo-admin", site_admin=True)
    store.add_repo(REPO)
    now = clock.now()
    for i in range(VERSIONS):
        version, start = f"v1.0.{i}", now - timedelta(days=10 - i)
        store.add_tag(REPO, f"{version}-qa", date=start, annotated=True)
        store.add_tag(REPO, f"{version}-uat", date=start + timedelta(hours=1), annotated=True)
        dep = store.add_deployment(REPO, environment="production", ref=f"{version}-uat", created_at=start)
        store.add_deployment_status(REPO, dep["id"], state="success", created_at=start + timedelta(hours=2))
        for stage in ("qa", "uat"):
            login = f"v1-0-{i}-{stage}-gh-sa"
            store.add_user(login, name=f"{version}-{stage}-gh-sa")
            store.add_member("acme", login)
    server.clear_log()
    try:
        yield World(github, server, arm_server.url, tls.ca_bundle_path, clock, tmp_path)
    finally:
        server.stop()
        arm_server.stop()


@pytest.fixture()
def ledger(world: World) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{world.tmp / 'ledger.sqlite'}") as opened:
        yield opened


def test_a_changed_etag_is_read_again(world: World, ledger: Ledger) -> None:
    session = world.session()
    session.cache = GithubCache(ledger, session.settings.base_url, world.clock.now())
    first = session.get_json("/users/v1-0-0-qa-gh-sa")
    again = session.get_json("/users/v1-0-0-qa-gh-sa")
    assert again == first and first["suspended_at"] is None
    world.github.store.users["v1-0-0-qa-gh-sa"].suspended_at = world.clock.now()  # the body (and ETag) changes
    changed = session.get_json("/users/v1-0-0-qa-gh-sa")
    assert changed["suspended_at"] is not None
    assert session.get_json("/users/v1-0-0-qa-gh-sa") == changed  # the new ETag, with its own body
    assert world.log("/users/v1-0-0-qa-gh-sa") == [
        ("/api/v3/users/v1-0-0-qa-gh-sa", 200),
        ("/api/v3/users/v1-0-0-qa-gh-sa", 304),
        ("/api/v3/users/v1-0-0-qa-gh-sa", 200),
        ("/api/v3/users/v1-0-0-qa-gh-sa", 304),
    ]
    session.close()


@pytest.mark.parametrize(
    ("mode", "reads"), [("enterprise-server", 2 * VERSIONS + 2), ("organization", 4 * VERSIONS + 2)]
)
def test_a_304_is_free_and_the_collection_is_the_same_as_a_full_read(
    world: World, ledger: Ledger, mode: str, reads: int
) -> None:
    plain = world.session()
    expected = GithubAccountReader(plain, mode).collect(lambda login: login.endswith("-gh-sa"))
    assert len(expected) == 2 * VERSIONS
    session = world.session()
    session.cache = GithubCache(ledger, session.settings.base_url, world.clock.now())
    reader = GithubAccountReader(session, mode)
    assert reader.collect(lambda login: login.endswith("-gh-sa")) == expected  # first: 200s, stored
    world.server.clear_log()
    before = world.used()
    assert reader.collect(lambda login: login.endswith("-gh-sa")) == expected  # then: 304s, from the ledger
    statuses = [status for _, status in world.log()]
    assert statuses.count(304) == len(statuses) == reads  # every per-account read and every list page
    assert world.used() == before  # no 304 counted against the limit
    assert session.budget.document()["not_modified"] == len(statuses)
    plain.close()
    session.close()


def test_a_ledger_without_the_cache_rebuilds_it_and_the_second_run_reads_less(world: World, ledger: Ledger) -> None:
    first = world.audit(ledger)
    assert world.log("/git/tags/") and len(world.log("/git/tags/")) == 2 * VERSIONS  # one GET per annotated tag
    assert len(world.log("/statuses")) == VERSIONS
    with ledger._read() as conn:
        assert conn.execute(t.github_facts.select()).all()  # rebuilt from nothing
    calls_first = sum(first.api_calls["github"].values())
    world.server.clear_log()
    used = world.used()
    steady = world.audit(ledger)
    assert world.log("/git/tags/") == [] and world.log("/statuses") == []  # facts: not asked again
    calls_steady = sum(steady.api_calls["github"].values())
    assert calls_first - calls_steady == 3 * VERSIONS  # 2 tag objects and 1 statuses list per version
    counted = [status for _, status in world.log() if status != 304]
    assert world.used() - used == len(counted) < 6  # the list pages only: users answered 304
    assert _verdicts(steady) == _verdicts(first)  # the same findings from the cache as from full reads
    document = json.loads(steady.reports.findings_json.read_text())
    assert document["api"]["github"]["not_modified"] == len(world.log()) - len(counted)
    assert document["api"]["github"]["facts_cached"] == 3 * VERSIONS
    assert document["api"]["github"]["remaining"] == world.github.rate_limit - world.used()

    uncached = world.audit(ledger, cached=False)  # the baseline behaviour: everything read again
    assert sum(uncached.api_calls["github"].values()) == calls_first


def test_a_retagged_tag_is_read_again(world: World, ledger: Ledger) -> None:
    session = world.session()
    session.cache = GithubCache(ledger, session.settings.base_url, world.clock.now())

    def qa_start() -> datetime:
        starts, _ = collect_timeline(session, REPO, "production", _parse, lambda tags: {}, world.clock.now())
        return next(s.at for s in starts if (s.version, s.stage) == ("v1.0.0", "qa"))

    original = qa_start()
    world.server.clear_log()
    assert qa_start() == original and world.log("/git/tags/") == []
    repo = world.github.store.repos[REPO.lower()]
    del repo.tags["v1.0.0-qa"]  # the tag moves: deleted and pushed again on another commit, later
    retagged = world.clock.now() - timedelta(hours=1)
    world.github.store.add_tag(REPO, "v1.0.0-qa", date=retagged, annotated=True, sha="c" * 40)
    assert qa_start() == retagged
    assert len(world.log("/git/tags/")) == 1  # the new tag object only
    session.close()


def test_a_deployment_without_success_is_not_cached(world: World, ledger: Ledger) -> None:
    store = world.github.store
    start = world.clock.now() - timedelta(hours=5)
    store.add_tag(REPO, "v2.0.0-uat", date=start, annotated=True)
    dep = store.add_deployment(REPO, environment="production", ref="v2.0.0-uat", created_at=start)
    store.add_deployment_status(REPO, dep["id"], state="in_progress", created_at=start + timedelta(minutes=5))
    session = world.session()
    session.cache = GithubCache(ledger, session.settings.base_url, world.clock.now())
    path = f"/deployments/{dep['id']}/statuses"

    def success_at() -> datetime | None:
        _, deployments = collect_timeline(session, REPO, "production", _parse, lambda tags: {}, world.clock.now())
        return next(d.first_success_at for d in deployments if d.deployment_id == dep["id"])

    assert success_at() is None
    assert success_at() is None
    assert len(world.log(path)) == 2  # read again: not final yet
    store.add_deployment_status(REPO, dep["id"], state="success", created_at=start + timedelta(minutes=9))
    assert success_at() == start + timedelta(minutes=9)
    assert success_at() == start + timedelta(minutes=9)
    assert len(world.log(path)) == 3  # final once it succeeded: not read the fourth time
    session.close()


def test_a_run_near_rate_limit_exhaustion_fails_fast_with_a_collect_error(world: World, ledger: Ledger) -> None:
    world.github.rate_limit = 18  # the timeline (15 requests), the users' list, two users: then nothing for an hour
    world.github.enforce_rate_limit = True
    started = time.monotonic()
    outcome = world.audit(ledger)
    assert time.monotonic() - started < 60  # the reset is an hour away: nothing slept towards it
    errors = [f for f in outcome.result.findings if f.rule == "COLLECT" and f.status is Status.ERROR]
    assert [f.subject.scope for f in errors] == ["github:acme"]  # the timeline was read; the accounts were not
    assert "rate limit exhausted" in errors[0].message.lower()
    assert [status for _, status in world.log() if status == 403] == []  # refused before sending, not sent
    budget = outcome.github_budget
    assert budget["remaining"] == 0 and budget["limit"] == 18 and budget["reset"] is not None
    assert budget["warnings"]  # the accounts needed more than was left, and the run said so


def test_a_primary_rate_limit_403_is_not_slept_through(world: World) -> None:
    world.github.rate_limit = 1
    world.github.enforce_rate_limit = True
    session = world.session()  # has seen no answer yet: the 403 itself is what it meets
    session.get_json("/users/octo-admin")
    started = time.monotonic()
    with pytest.raises((GithubException, RateLimitExhausted)):
        session.get_json("/users/octo-admin")
    fresh = world.session()
    with pytest.raises(GithubException, match=r"(?i)rate limit"):
        fresh.get_json("/users/octo-admin")  # PyGithub's retry would sleep an hour: it raises instead
    assert time.monotonic() - started < 30
    session.close()
    fresh.close()


def _verdicts(outcome: RunOutcome) -> set[tuple[str, str, str, str]]:
    return {(f.rule, f.status.value, f.subject.provider_name, f.message) for f in outcome.result.findings}


def _parse(tag: str) -> tuple[str, str] | None:
    for stage in ("qa", "uat"):
        if tag.endswith(f"-{stage}"):
            return tag.removesuffix(f"-{stage}"), stage
    return (tag, "prod") if tag.startswith("v") else None
