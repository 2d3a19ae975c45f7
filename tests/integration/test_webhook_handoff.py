"""Event-driven hand-off against the seed sandbox, over real HTTP both ways: the GitHub emulator
delivers signed webhooks to the service's endpoint, the leader runs the version-scoped hand-off
through the same engine and journal as scheduled runs, and the emulator's state shows the previous
stage's account revoked, without a scheduled run. Also: a follower records but does not act, a
redelivery acts once, and a grace-delayed event survives a restart."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from custodian.config import Config, Mode
from custodian.ledger.events import EventStatus, WebhookEvent
from custodian.ledger.store import Ledger
from custodian.model import ActionOutcome
from custodian.service.events import EventRunner
from custodian.service.health import HealthServer
from custodian.service.lease import LeaseKeeper
from custodian.service.webhooks import WebhookReceiver
from tests.integration.conftest import Env

SECRET = "sandbox-webhook-secret"
REPO = "acme/product"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Replica:
    keeper: LeaseKeeper
    runner: EventRunner
    server: HealthServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/webhooks/github"


@contextmanager
def replica(env: Env, config: Config, ledger: Ledger, holder: str) -> Iterator[Replica]:
    """One service replica: lease keeper (one round), webhook endpoint, event runner (not started)."""
    clock = env.sandbox.clock.now
    keeper = LeaseKeeper(ledger, holder=holder, ttl=timedelta(minutes=5), renew_every=timedelta(minutes=1), clock=clock)
    keeper.tick()
    receiver = WebhookReceiver(config, ledger, clock, SECRET.encode(), 1024 * 1024)
    server = HealthServer("127.0.0.1", 0, lambda: {"healthy": True}, lambda: b"", receiver)
    runner = EventRunner(
        config, ledger, keeper, clock=clock, stopping=threading.Event(), poll_every=timedelta(seconds=0.1)
    )
    server.start()
    try:
        yield Replica(keeper, runner, server)
    finally:
        runner.stopping.set()
        runner.join(timeout=30)
        server.stop()
        keeper.stop(release=True)


def handoff_config(env: Env, grace: timedelta = timedelta(0)) -> Config:
    lifecycle = env.config.lifecycle.model_copy(update={"handoff_grace": grace})
    return env.config.model_copy(update={"mode": Mode.ENFORCE, "lifecycle": lifecycle})


def github(env: Env, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{env.sandbox.env.github_base_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {env.sandbox.env.github_token}", "Content-Type": "application/json"},
        method=method,
    )
    with _NO_PROXY.open(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def push_tag(env: Env, tag: str, at_tag: str) -> None:
    """Create a lightweight tag `tag` on the commit of `at_tag` through the git refs API."""
    sha = github(env, "GET", f"/repos/{REPO}/commits/{at_tag}")["sha"]
    github(env, "POST", f"/repos/{REPO}/git/refs", {"ref": f"refs/tags/{tag}", "sha": sha})


def suspended(env: Env, login: str) -> bool:
    assert env.sandbox.github is not None
    with env.sandbox.github.store.lock:
        user = env.sandbox.github.store.find_user(login)
        assert user is not None
        return user.suspended_at is not None


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def one_event(ledger: Ledger) -> WebhookEvent:
    events = ledger.list_webhook_events()
    assert len(events) == 1, events
    return events[0]


def test_a_pushed_tag_is_delivered_and_the_previous_stage_is_revoked_without_a_scheduled_run(seed_env: Env) -> None:
    env = seed_env
    config = handoff_config(env)
    assert env.sandbox.github is not None
    with replica(env, config, env.ledger, "leader") as leader:
        hooks = env.sandbox.github.configure_webhook(leader.url, SECRET)
        leader.runner.start()
        assert not suspended(env, "v0-0-3-qa-gh-sa")
        push_tag(env, "v0.0.3-uat", at_tag="v0.0.3-qa")  # uat of v0.0.3 starts: its qa accounts hand off
        wait_for(lambda: suspended(env, "v0-0-3-qa-gh-sa"), "the v0.0.3 qa machine user to be suspended")
        event = wait_for(lambda: one_event(env.ledger).status is EventStatus.DONE and one_event(env.ledger), "done")

        delivery = hooks.deliveries()[0]
        assert delivery.ok and delivery.event == "create" and delivery.guid == event.delivery_id
        assert (event.version, event.stage, event.ref) == ("v0.0.3", "uat", "v0.0.3-uat")
        # version-scoped: v0.0.1 uat is overdue too (seed L1), but it waits for the schedule
        assert not suspended(env, "v0-0-1-uat-gh-sa")
        runs = env.ledger.list_runs()
        assert [r.info.run_id for r in runs] == [event.run_id]  # the event's run is the only run: no schedule ran
        assert event.run_id is not None
        done = [r for r in env.ledger.actions_for_run(event.run_id) if r.outcome is ActionOutcome.DONE]
        assert done and {r.action.subject.version for r in done} == {"v0.0.3"}
        assert {r.action.subject.provider for r in done} == {"github", "azure"}  # the gh-sa and the acr-sa
        report = json.loads(next((config.reports.directory).rglob("findings.json")).read_text())
        assert report["run"]["trigger"] == f"event:{event.delivery_id}" and report["run"]["version"] == "v0.0.3"

        # GitHub redelivers (same X-GitHub-Delivery): answered, recorded once, not run again
        hooks.redeliver(delivery.id)
        assert hooks.wait_idle()
        assert hooks.deliveries()[0].redelivery and hooks.deliveries()[0].ok
        time.sleep(0.5)  # a few polls
        assert one_event(env.ledger).run_id == event.run_id and len(env.ledger.list_runs()) == 1


def test_a_follower_records_the_event_and_only_the_leader_runs_it(seed_env: Env) -> None:
    env = seed_env
    config = handoff_config(env)
    assert env.sandbox.github is not None
    with (
        Ledger.open(config.ledger.url) as follower_ledger,
        replica(env, config, env.ledger, "leader") as leader,
        replica(env, config, follower_ledger, "follower") as follower,
    ):
        assert leader.keeper.current() is not None and follower.keeper.current() is None
        hooks = env.sandbox.github.configure_webhook(follower.url, SECRET)  # the delivery reaches the follower
        push_tag(env, "v0.0.3-uat", at_tag="v0.0.3-qa")
        assert hooks.wait_idle() and hooks.deliveries()[0].ok
        assert one_event(follower_ledger).status is EventStatus.PENDING
        assert follower.runner.poll() == []  # a follower does not act
        assert one_event(env.ledger).status is EventStatus.PENDING and not suspended(env, "v0-0-3-qa-gh-sa")
        assert leader.runner.poll() == [(one_event(env.ledger).delivery_id, EventStatus.DONE)]
        assert suspended(env, "v0-0-3-qa-gh-sa")


def test_a_grace_delayed_event_survives_a_restart_and_runs_when_due(seed_env: Env) -> None:
    env = seed_env
    config = handoff_config(env, grace=timedelta(hours=1))
    assert env.sandbox.github is not None
    with replica(env, config, env.ledger, "before-restart") as before:
        hooks = env.sandbox.github.configure_webhook(before.url, SECRET)
        push_tag(env, "v0.0.3-uat", at_tag="v0.0.3-qa")
        assert hooks.wait_idle() and hooks.deliveries()[0].ok
        assert before.runner.poll() == []  # not due yet: the grace runs
    env.sandbox.github.webhook = None  # the service is down; nothing is delivered
    env.ledger.close()

    env.sandbox.clock.advance(timedelta(hours=1, minutes=1))
    with Ledger.open(config.ledger.url) as ledger, replica(env, config, ledger, "after-restart") as after:
        pending = one_event(ledger)
        assert pending.status is EventStatus.PENDING and not suspended(env, "v0-0-3-qa-gh-sa")
        assert after.runner.poll() == [(pending.delivery_id, EventStatus.DONE)]
        assert suspended(env, "v0-0-3-qa-gh-sa") and not suspended(env, "v0-0-1-uat-gh-sa")
    env.ledger = Ledger.open(config.ledger.url)  # the fixture closes it


def test_failed_deliveries_are_listed_and_redelivered(seed_env: Env) -> None:
    env = seed_env
    config = handoff_config(env)
    assert env.sandbox.github is not None
    with replica(env, config, env.ledger, "leader") as service:
        hooks = env.sandbox.github.configure_webhook("http://127.0.0.1:9/webhooks/github", SECRET, timeout_s=2)
        push_tag(env, "v0.0.3-uat", at_tag="v0.0.3-qa")
        assert hooks.wait_idle()
        failed = hooks.failed()
        assert len(failed) == 1 and failed[0].status_code == 0
        assert env.ledger.list_webhook_events() == []  # nothing reached the service
        listed = github(env, "GET", f"/repos/{REPO}/hooks/1/deliveries")
        assert [(d["guid"], d["event"], d["status_code"]) for d in listed] == [(failed[0].guid, "create", 0)]

        hooks.url = service.url  # the endpoint is back: redeliver through GitHub's delivery API
        github(env, "POST", f"/repos/{REPO}/hooks/1/deliveries/{failed[0].id}/attempts", {})
        assert hooks.wait_idle() and hooks.failed() == []
        assert one_event(env.ledger).delivery_id == failed[0].guid
        assert service.runner.poll() == [(failed[0].guid, EventStatus.DONE)] and suspended(env, "v0-0-3-qa-gh-sa")
