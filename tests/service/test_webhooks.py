"""`POST /webhooks/github` over real HTTP on the health server: signatures, limits, malformed
deliveries, deduplication by delivery id, which events become a due hand-off, and what is never logged."""

from __future__ import annotations

import json
import logging
import signal
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from custodian.config import Config
from custodian.ledger.events import EventStatus
from custodian.ledger.store import Ledger
from custodian.service.health import HealthServer
from custodian.service.webhooks import WebhookReceiver, signature_of
from tests.service.conftest import T0, FakeClock, SchedulerProcess, make_config, wait_for, write_config
from tests.service.test_scheduler_process import free_port

SECRET = b"It's a Secret to Everybody"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Endpoint:
    url: str
    ledger: Ledger
    clock: FakeClock
    config: Config

    def post(
        self,
        payload: Any,
        *,
        event: str | None = "create",
        delivery: str | None = None,
        secret: bytes | None = SECRET,
        signature: str | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, Any]]:
        raw = body if body is not None else json.dumps(payload).encode()
        headers = {"Content-Type": content_type, "User-Agent": "GitHub-Hookshot/test"}
        if event is not None:
            headers["X-GitHub-Event"] = event
        headers["X-GitHub-Delivery"] = delivery or str(uuid.uuid4())
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        elif secret is not None:
            headers["X-Hub-Signature-256"] = signature_of(secret, raw)
        request = urllib.request.Request(self.url + "/webhooks/github", data=raw, headers=headers, method="POST")
        try:
            with _NO_PROXY.open(request, timeout=5) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    config = make_config(
        f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        tmp_path,
        {},
        health={"port": 0},
        webhooks={"secret": {"env": "TEST_WEBHOOK_SECRET"}, "max_body": 4096},
    )
    assert config.service.webhooks is not None
    clock = FakeClock()
    with Ledger.open(config.ledger.url) as ledger:
        receiver = WebhookReceiver(config, ledger, clock.now, SECRET, config.service.webhooks.max_body)
        server = HealthServer("127.0.0.1", 0, lambda: {"healthy": True}, lambda: b"", receiver)
        server.start()
        try:
            yield Endpoint(f"http://127.0.0.1:{server.port}", ledger, clock, config)
        finally:
            server.stop()


def tag_created(tag: str, repo: str = "acme/app") -> dict[str, Any]:
    return {
        "ref": tag,
        "ref_type": "tag",
        "master_branch": "main",
        "description": None,
        "pusher_type": "user",
        "repository": {"id": 1, "full_name": repo, "name": repo.split("/")[1]},
        "sender": {"login": "octocat", "id": 1},
    }


def test_a_signed_tag_delivery_is_accepted_and_its_hand_off_is_due_after_the_grace(endpoint: Endpoint) -> None:
    delivery = str(uuid.uuid4())
    status, body = endpoint.post(tag_created("v1.2.0-uat"), delivery=delivery)
    assert status == 202 and body["status"] == "accepted" and body["version"] == "v1.2.0"
    event = endpoint.ledger.get_webhook_event(delivery)
    assert event is not None and event.status is EventStatus.PENDING
    assert (event.repo, event.ref, event.version, event.stage) == ("acme/app", "v1.2.0-uat", "v1.2.0", "uat")
    assert event.due_at == T0 + endpoint.config.lifecycle.handoff_grace
    # the tag's first sighting is the delivery's receipt (a lightweight tag's stage starts then)
    assert endpoint.ledger.record_tag_sightings("acme/app", ["v1.2.0-uat"], T0 + timedelta(hours=5)) == {
        "v1.2.0-uat": T0
    }


@pytest.mark.parametrize(
    ("secret", "signature", "code"),
    [
        (None, None, 401),  # no X-Hub-Signature-256
        (b"not the secret", None, 403),  # signed with another secret
        (None, "sha256=" + "0" * 64, 403),
        (None, "sha1=deadbeef", 403),
    ],
)
def test_unsigned_and_badly_signed_deliveries_are_refused_and_not_recorded(
    endpoint: Endpoint, secret: bytes | None, signature: str | None, code: int
) -> None:
    status, body = endpoint.post(tag_created("v1.2.0-uat"), secret=secret, signature=signature)
    assert status == code and "error" in body
    assert endpoint.ledger.list_webhook_events() == []


def test_a_replayed_delivery_id_is_recorded_once(endpoint: Endpoint) -> None:
    delivery = str(uuid.uuid4())
    first = endpoint.post(tag_created("v1.2.0-uat"), delivery=delivery)
    endpoint.clock.advance(timedelta(minutes=5))
    again = endpoint.post(tag_created("v1.2.0-uat"), delivery=delivery)
    assert first[0] == again[0] == 202
    assert (first[1]["status"], again[1]["status"]) == ("accepted", "duplicate")
    events = endpoint.ledger.list_webhook_events()
    assert [e.delivery_id for e in events] == [delivery] and events[0].received_at == T0


def test_oversized_malformed_and_incomplete_deliveries(endpoint: Endpoint) -> None:
    assert endpoint.post(None, body=b"{" + b" " * 5000 + b"}")[0] == 413  # over max_body (4096): not read
    assert endpoint.post(None, body=b"{not json")[0] == 400
    assert endpoint.post(None, body=b"[1, 2]")[0] == 400  # JSON, but not an object
    assert endpoint.post(tag_created("v1.2.0-uat"), event=None)[0] == 400  # no X-GitHub-Event
    assert endpoint.post(None, body=b"payload=%7B%7D", content_type="application/x-www-form-urlencoded")[0] == 415
    assert endpoint.ledger.list_webhook_events() == []


def test_ping_is_answered_200(endpoint: Endpoint) -> None:
    status, body = endpoint.post({"zen": "Keep it logically awesome.", "hook_id": 7}, event="ping")
    assert (status, body["status"], body["hook_id"]) == (200, "pong", 7)


def test_events_of_an_unconfigured_repository_or_not_about_a_release_are_ignored(endpoint: Endpoint) -> None:
    cases = [
        ("create", tag_created("v1.2.0-uat", repo="acme/other")),
        ("create", {**tag_created("feature"), "ref_type": "branch"}),
        ("create", tag_created("nightly-2025")),  # not a release tag of the naming rules
        ("release", {"action": "created", "release": {"tag_name": "v1.2.0"}, "repository": {"full_name": "acme/app"}}),
        ("push", {"ref": "refs/heads/main", "repository": {"full_name": "acme/app"}}),
    ]
    for event, payload in cases:
        status, body = endpoint.post(payload, event=event)
        assert (status, body["status"]) == (202, "ignored"), (event, body)
    recorded = endpoint.ledger.list_webhook_events()
    assert len(recorded) == len(cases) and {e.status for e in recorded} == {EventStatus.IGNORED}
    assert "not one of github.release_repos" in recorded[-1].detail
    assert endpoint.ledger.due_webhook_events(T0 + timedelta(days=30)) == []


def test_release_deployment_status_and_delete_events(endpoint: Endpoint) -> None:
    repo = {"full_name": "ACME/App"}  # GitHub names are case-insensitive
    published = {"action": "published", "release": {"tag_name": "v1.2.0", "published_at": "2025-03-03T09:30:00Z"}}
    assert endpoint.post({**published, "repository": repo}, event="release")[1]["status"] == "accepted"

    def status_event(state: str, environment: str) -> dict[str, Any]:
        return {
            "action": "created",
            "deployment_status": {"state": state, "environment": environment, "created_at": "2025-03-03T09:45:00Z"},
            "deployment": {"ref": "v1.2.0", "environment": environment},
            "repository": repo,
        }

    success = str(uuid.uuid4())
    assert endpoint.post(status_event("success", "Production"), event="deployment_status", delivery=success)[0] == 202
    assert endpoint.post(status_event("failure", "production"), event="deployment_status")[1]["status"] == "ignored"
    assert endpoint.post(status_event("success", "uat"), event="deployment_status")[1]["status"] == "ignored"
    deleted = endpoint.post({**tag_created("v1.2.0-uat"), "repository": repo}, event="delete")
    assert deleted[1]["status"] == "recorded"
    first_stage = endpoint.post(tag_created("v1.3.0-qa"))
    assert first_stage[1]["status"] == "recorded"  # a qa tag hands nothing off

    events = endpoint.ledger
    prod = events.get_webhook_event(success)
    assert prod is not None and prod.version == "v1.2.0" and prod.stage == "prod"
    assert prod.due_at == T0 - timedelta(minutes=15) + endpoint.config.lifecycle.prod_revocation_grace
    due = events.due_webhook_events(T0 + timedelta(hours=2))
    assert [(e.event, e.version) for e in due] == [("release", "v1.2.0"), ("deployment_status", "v1.2.0")]
    assert {e.repo for e in due} == {"acme/app"}  # the configured spelling


def test_a_get_or_another_post_path_is_not_the_webhook(endpoint: Endpoint) -> None:
    request = urllib.request.Request(endpoint.url + "/webhooks/other", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        _NO_PROXY.open(request, timeout=5)
    assert raised.value.code == 404


def test_neither_the_body_nor_the_secret_is_logged(endpoint: Endpoint, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    marker = "ghp_" + "s3cr3t" * 6
    payload = {**tag_created("v1.2.0-uat"), "description": marker}
    endpoint.post(payload)
    endpoint.post(payload, secret=b"wrong")
    endpoint.post({"description": marker}, signature="sha256=" + "1" * 64)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "webhook" in logged
    assert marker not in logged and SECRET.decode() not in logged and "sha256=" not in logged


def test_the_scheduler_process_serves_the_webhook_and_keeps_the_event_across_a_restart(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python scheduler.py` with `service.webhooks`: deliveries are answered on the health port and
    recorded; the grace-delayed event is still pending in the ledger after the process stops."""
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET.decode())
    port = free_port()
    config = write_config(
        tmp_path / "hooks.yaml",
        sqlite_url,
        {},
        health={"port": port},
        webhooks={"secret": {"env": "TEST_WEBHOOK_SECRET"}, "poll_every": "1s"},
    )
    process = SchedulerProcess(config, tmp_path / "hooks.log")
    try:
        with Ledger.open(sqlite_url) as ledger:
            endpoint = Endpoint(f"http://127.0.0.1:{port}", ledger, FakeClock(), make_config(sqlite_url, tmp_path, {}))

            def pong() -> bool:
                try:
                    return endpoint.post({"hook_id": 1}, event="ping")[0] == 200
                except OSError:
                    return False  # not listening yet

            wait_for(pong, 20, "the webhook endpoint")
            delivery = str(uuid.uuid4())
            assert endpoint.post(tag_created("v1.2.0-uat"), delivery=delivery)[1]["status"] == "accepted"
            assert endpoint.post(tag_created("v1.2.0-uat"), secret=b"wrong")[0] == 403
            process.signal(signal.SIGTERM)
            assert process.wait(15) == 0
            event = ledger.get_webhook_event(delivery)
            assert event is not None and event.status is EventStatus.PENDING  # due after the 1h grace: kept
        logged = process.output()
        assert "POST /webhooks/github" in logged and SECRET.decode() not in logged
    finally:
        process.stop()
