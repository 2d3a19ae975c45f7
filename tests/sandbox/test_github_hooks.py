"""The GitHub emulator's webhook: a tag ref, a published release and a deployment status are delivered
as GitHub does (headers, signature, payload shape) to a real HTTP server; PyGithub drives the API."""

from __future__ import annotations

import json
import threading
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
