"""The GitHub emulator's webhooks: a tag ref, a published release, a deployment and a deployment status
are delivered as GitHub does (headers, signature, payload shape) to a real HTTP server, by the
configured hook, by repository hooks and by organization hooks (every repository of the org), with
the deliveries API (list, one, redeliver); PyGithub drives the API where it has methods."""

from __future__ import annotations

import json
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from github import Auth, Github

from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.github import GithubEmulator, start_github
from custodian.sandbox.httpserver import EmulatorServer
from custodian.service.webhooks import signature_of

TOKEN = "sandbox-token"
SECRET = "hook-secret"
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


class Capture:
    """A webhook receiver that keeps every delivery (headers, body) and answers `status`."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 202
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        return [(headers["x-github-event"], json.loads(body)) for headers, body in self.received]


@pytest.fixture
def world() -> Iterator[tuple[GithubEmulator, EmulatorServer, Capture]]:
    emulator, server = start_github(clock=SandboxClock(NOW), tokens={TOKEN})
    emulator.store.add_org("acme")
    emulator.store.add_repo("acme/product")
    emulator.store.add_tag("acme/product", "v1.0.0-uat", date=NOW)
    capture = Capture()
    try:
        yield emulator, server, capture
    finally:
        if emulator.webhook is not None:
            emulator.webhook.close()
        for hook in emulator.hooks.values():
            hook.sender.close()
        capture.server.shutdown()
        server.stop()


def client(server: EmulatorServer) -> Github:
    return Github(auth=Auth.Token(TOKEN), base_url=server.url + "/api/v3", seconds_between_writes=0)


def test_tag_release_and_deployment_status_are_delivered_signed(
    world: tuple[GithubEmulator, EmulatorServer, Capture],
) -> None:
    emulator, server, capture = world
    hooks = emulator.configure_webhook(capture.url, SECRET)
    repo = client(server).get_repo("acme/product")
    sha = repo.get_git_ref("tags/v1.0.0-uat").object.sha
    repo.create_git_ref("refs/tags/v1.0.0", sha)
    repo.create_git_release("v1.0.0", "v1.0.0", "")
    seeded = emulator.store.add_deployment("acme/product", environment="production", ref="v1.0.0", created_at=NOW)
    repo.get_deployment(seeded["id"]).create_status("success")  # the emulator has no POST deployments
    assert hooks.wait_idle()

    assert [(event, body.get("action")) for event, body in capture.events()] == [
        ("create", None),
        ("release", "created"),
        ("release", "published"),
        ("deployment_status", "created"),
    ]
    for headers, body in capture.received:
        assert headers["x-hub-signature-256"] == signature_of(SECRET.encode(), body)
        assert headers["user-agent"].startswith("GitHub-Hookshot/") and headers["content-type"] == "application/json"
        assert str(uuid.UUID(headers["x-github-delivery"])) == headers["x-github-delivery"]
        payload = json.loads(body)
        assert payload["repository"]["full_name"] == "acme/product" and payload["sender"]["login"]
        assert payload["organization"]["login"] == "acme"
    created, _, published, status = (body for _, body in capture.events())
    assert (created["ref"], created["ref_type"], created["master_branch"]) == ("v1.0.0", "tag", "main")
    assert published["release"]["tag_name"] == "v1.0.0" and published["release"]["published_at"]
    assert status["deployment_status"]["state"] == "success" and status["deployment"]["ref"] == "v1.0.0"
    assert status["deployment"]["environment"] == "production"


def test_a_failed_delivery_is_listed_and_redelivered_with_the_same_guid(
    world: tuple[GithubEmulator, EmulatorServer, Capture],
) -> None:
    emulator, server, capture = world
    capture.status = 500
    hooks = emulator.configure_webhook(capture.url, SECRET)
    repo = client(server).get_repo("acme/product")
    repo.create_git_ref("refs/tags/v1.0.0", repo.get_git_ref("tags/v1.0.0-uat").object.sha)
    assert hooks.wait_idle()
    (failed,) = hooks.failed()
    assert failed.status_code == 500 and not failed.ok
    api = f"{server.url}/api/v3/repos/acme/product/hooks/1/deliveries"
    auth = {"Authorization": f"token {TOKEN}"}
    listed = requests.get(api, headers=auth, timeout=5).json()
    assert [(d["id"], d["guid"], d["status_code"], d["redelivery"]) for d in listed] == [
        (failed.id, failed.guid, 500, False)
    ]

    capture.status = 202
    assert requests.post(f"{api}/{failed.id}/attempts", headers=auth, timeout=5).status_code == 202
    assert hooks.wait_idle() and hooks.failed() == []
    first, again = capture.received
    assert first[0]["x-github-delivery"] == again[0]["x-github-delivery"] and first[1] == again[1]
    assert requests.post(f"{api}/999/attempts", headers=auth, timeout=5).status_code == 404


AUTH = {"Authorization": f"token {TOKEN}"}


def test_an_org_hook_gets_the_events_of_every_repository_and_its_deliveries_can_be_redelivered(
    world: tuple[GithubEmulator, EmulatorServer, Capture],
) -> None:
    emulator, server, capture = world
    emulator.store.add_repo("acme/other")
    emulator.store.add_tag("acme/other", "v2.0.0-qa", date=NOW)
    api = f"{server.url}/api/v3/orgs/acme/hooks"
    config = {"url": capture.url, "content_type": "json", "secret": SECRET}
    answer = requests.post(api, json={"name": "web", "config": config, "events": ["create"]}, headers=AUTH, timeout=5)
    assert answer.status_code == 201, answer.text
    hook = answer.json()
    assert hook["type"] == "Organization" and hook["events"] == ["create"] and hook["config"]["secret"] == "********"
    assert hook["deliveries_url"] == f"{api}/{hook['id']}/deliveries"
    assert [h["id"] for h in requests.get(api, headers=AUTH, timeout=5).json()] == [hook["id"]]
    github = client(server)
    for name, tag, new in (("acme/product", "v1.0.0-uat", "v1.0.0"), ("acme/other", "v2.0.0-qa", "v2.0.0-uat")):
        repo = github.get_repo(name)
        repo.create_git_ref(f"refs/tags/{new}", repo.get_git_ref(f"tags/{tag}").object.sha)
    github.get_repo("acme/product").create_git_release("v1.0.0", "v1.0.0", "")  # not subscribed: not sent
    sender = emulator.hooks[hook["id"]].sender
    assert sender.wait_idle()
    assert [event for event, _ in capture.events()] == ["ping", "create", "create"]
    ping, *creates = capture.received
    assert json.loads(ping[1])["hook_id"] == hook["id"] and json.loads(ping[1])["organization"]["login"] == "acme"
    assert [json.loads(body)["repository"]["full_name"] for _, body in creates] == ["acme/product", "acme/other"]
    for headers, body in capture.received:
        assert headers["x-github-hook-id"] == str(hook["id"])
        assert headers["x-github-hook-installation-target-type"] == "organization"
        assert headers["x-hub-signature-256"] == signature_of(SECRET.encode(), body)

    capture.status = 500  # the receiver is down: the delivery fails, GitHub does not retry it
    repo = github.get_repo("acme/other")
    repo.create_git_ref("refs/tags/v2.0.0", repo.get_git_ref("tags/v2.0.0-qa").object.sha)
    assert sender.wait_idle()
    listed = requests.get(f"{api}/{hook['id']}/deliveries", headers=AUTH, timeout=5).json()
    failed = listed[0]  # newest first
    assert (failed["event"], failed["status_code"], failed["redelivery"]) == ("create", 500, False)
    one = requests.get(f"{api}/{hook['id']}/deliveries/{failed['id']}", headers=AUTH, timeout=5).json()
    assert one["guid"] == failed["guid"] and one["request"]["payload"]["ref"] == "v2.0.0"
    capture.status = 202
    again = requests.post(f"{api}/{hook['id']}/deliveries/{failed['id']}/attempts", headers=AUTH, timeout=5)
    assert again.status_code == 202 and sender.wait_idle() and sender.failed() == []
    assert capture.received[-1][0]["x-github-delivery"] == failed["guid"]
    newest = requests.get(f"{api}/{hook['id']}/deliveries", headers=AUTH, timeout=5).json()[0]
    assert newest["redelivery"] is True and newest["guid"] == failed["guid"] and newest["status_code"] == 202
    assert requests.get(f"{server.url}/api/v3/orgs/nobody/hooks", headers=AUTH, timeout=5).status_code == 404
    assert requests.delete(f"{api}/{hook['id']}", headers=AUTH, timeout=5).status_code == 204
    assert requests.get(f"{api}/{hook['id']}/deliveries", headers=AUTH, timeout=5).status_code == 404


def test_a_repository_hook_gets_deployment_and_deployment_status_payloads_form_encoded(
    world: tuple[GithubEmulator, EmulatorServer, Capture],
) -> None:
    emulator, server, capture = world
    repo = client(server).get_repo("acme/product")
    created = repo.create_hook(
        "web",
        {"url": capture.url, "content_type": "form", "secret": SECRET},
        events=["deployment", "deployment_status"],
    )
    deployment = repo.create_deployment("v1.0.0-uat", environment="production", description="to prod")
    assert deployment.ref == "v1.0.0-uat" and deployment.environment == "production"
    assert deployment.sha == repo.get_git_ref("tags/v1.0.0-uat").object.sha
    deployment.create_status("success")
    sender = emulator.hooks[created.id].sender
    assert sender.wait_idle()
    assert [headers["x-github-event"] for headers, _ in capture.received] == ["ping", "deployment", "deployment_status"]
    payloads = []
    for headers, body in capture.received:
        assert headers["content-type"] == "application/x-www-form-urlencoded"
        assert headers["x-hub-signature-256"] == signature_of(SECRET.encode(), body)  # signed as sent
        assert headers["x-github-hook-installation-target-type"] == "repository"
        payloads.append(json.loads(urllib.parse.parse_qs(body.decode())["payload"][0]))
    _, made, status = payloads
    assert made["action"] == "created" and made["deployment"]["id"] == deployment.id
    assert made["deployment"]["environment"] == "production" and made["repository"]["full_name"] == "acme/product"
    assert status["deployment_status"]["state"] == "success" and status["deployment"]["id"] == deployment.id
    missing = requests.post(
        f"{server.url}/api/v3/repos/acme/product/deployments", json={"ref": "nope"}, headers=AUTH, timeout=5
    )
    assert missing.status_code == 422
