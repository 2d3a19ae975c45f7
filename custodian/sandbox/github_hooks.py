"""Webhook deliveries of the GitHub emulator: signed POSTs of GitHub's payloads, from a background thread.

`GithubEmulator.configure_webhook(url, secret)` registers one repository-or-organization webhook
(id 1, content type application/json) for every repository. Then creating a tag ref
(`POST .../git/refs`: a `create` event, `ref_type: tag`), publishing a release (`POST .../releases`
without `draft`: `release` `created` then `published`) and adding a deployment status
(`POST .../deployments/{id}/statuses`: `deployment_status` `created`) each send a delivery:

- headers `X-GitHub-Event`, `X-GitHub-Delivery` (a uuid4), `X-GitHub-Hook-ID`,
  `X-Hub-Signature-256` (`sha256=` HMAC-SHA256 of the body with the secret), `X-Hub-Signature`
  (sha1, as GitHub still sends), `User-Agent: GitHub-Hookshot/<hex>`, `Content-Type: application/json`;
- the body: the event's fields (`ref`, `ref_type`, `master_branch`, `pusher_type`; `action`,
  `release`; `action`, `deployment_status`, `deployment`) plus `repository`, `organization`
  and `sender`, as GitHub shapes them.

Deliveries are made in order by one thread, 10 s timeout each, never retried automatically (as
GitHub does). A delivery that got no 2xx answer is listed by `failed()`; `redeliver(id)` sends it
again with the same `X-GitHub-Delivery` and `redelivery: true`, as GitHub's delivery API does.
The same, over HTTP: `GET /repos/{o}/{r}/hooks/{hook_id}/deliveries` and
`POST /repos/{o}/{r}/hooks/{hook_id}/deliveries/{delivery_id}/attempts` (202).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from custodian.sandbox import github_json as gj
from custodian.sandbox.clock import iso
from custodian.sandbox.github_base import ApiError, Ctx, GithubRoutesBase, Handler, int_or_404, invalid, not_found
from custodian.sandbox.github_json import Json
from custodian.sandbox.github_store import ReleaseRec, RepoRec
from custodian.sandbox.httpserver import Response, json_response

__all__ = ["HOOK_ID", "Delivery", "GithubHookRoutes", "WebhookSender"]

HOOK_ID = 1
_USER_AGENT = "GitHub-Hookshot/5f3e1c2"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the URL, never a proxy


@dataclass
class Delivery:
    """One delivery attempt, as GitHub's delivery API lists it (plus the body, for redelivery)."""

    id: int
    guid: str
    event: str
    action: str | None
    repository_id: int | None
    body: bytes
    redelivery: bool = False
    delivered_at: datetime | None = None
    duration: float = 0.0
    status_code: int = 0  # 0: no answer (connection refused, timeout)
    status: str = "pending"

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def view(self) -> Json:
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": iso(self.delivered_at) if self.delivered_at else None,
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": None,
            "repository_id": self.repository_id,
        }


class WebhookSender:
    """Signs and POSTs deliveries to `url` from one background thread; keeps every attempt."""

    def __init__(self, url: str, secret: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self._secret = secret.encode()
        self.timeout_s = timeout_s
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._attempts: list[Delivery] = []
        self._next_id = 1
        self._thread = threading.Thread(target=self._work, name="github-hooks", daemon=True)
        self._thread.start()

    def send(self, event: str, payload: Json, *, repository_id: int | None = None) -> str:
        """Queue a delivery of `payload` as `event`; returns its `X-GitHub-Delivery` guid."""
        action = payload.get("action")
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery = self._new(str(uuid.uuid4()), event, action if isinstance(action, str) else None, repository_id, body)
        self._queue.put(delivery)
        return delivery.guid

    def redeliver(self, delivery_id: int) -> Delivery:
        """Send an earlier attempt again (same guid, `redelivery: true`); KeyError if there is no such id."""
        with self._lock:
            earlier = next((d for d in self._attempts if d.id == delivery_id), None)
        if earlier is None:
            raise KeyError(delivery_id)
        again = self._new(earlier.guid, earlier.event, earlier.action, earlier.repository_id, earlier.body)
        again.redelivery = True
        self._queue.put(again)
        return again

    def deliveries(self) -> list[Delivery]:
        """Every attempt, newest first (as GitHub lists them)."""
        with self._lock:
            return list(reversed(self._attempts))

    def failed(self) -> list[Delivery]:
        """The latest attempt of each guid, when it got no 2xx answer."""
        latest: dict[str, Delivery] = {}
        for delivery in reversed(self.deliveries()):
            if delivery.status != "pending":
                latest[delivery.guid] = delivery
        return [d for d in latest.values() if not d.ok]

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued delivery was attempted; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=self.timeout_s + 1)

    def _new(self, guid: str, event: str, action: str | None, repository_id: int | None, body: bytes) -> Delivery:
        with self._lock:
            delivery = Delivery(self._next_id, guid, event, action, repository_id, body)
            self._next_id += 1
            self._attempts.append(delivery)
        return delivery

    def _work(self) -> None:
        while True:
            delivery = self._queue.get()
            try:
                if delivery is None:
                    return
                self._post(delivery)
            finally:
                self._queue.task_done()

    def _post(self, delivery: Delivery) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": _USER_AGENT,
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.guid,
            "X-GitHub-Hook-ID": str(HOOK_ID),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-Hub-Signature": "sha1=" + hmac.new(self._secret, delivery.body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": "sha256=" + hmac.new(self._secret, delivery.body, hashlib.sha256).hexdigest(),
        }
        request = urllib.request.Request(self.url, data=delivery.body, headers=headers, method="POST")
        started = time.monotonic()
        code, status = 0, ""
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as answer:
                code, status = int(answer.status), "OK"
        except urllib.error.HTTPError as exc:
            code, status = int(exc.code), f"Invalid HTTP Response: {exc.code}"
        except (OSError, ValueError) as exc:
            status = f"failed to connect: {type(exc).__name__}"
        with self._lock:
            delivery.delivered_at = datetime.now(UTC).replace(microsecond=0)
            delivery.duration = time.monotonic() - started
            delivery.status_code, delivery.status = code, status


class GithubHookRoutes(GithubRoutesBase):
    """The webhook of the emulator: `deliver` (called by the routes that make events) and its routes."""

    webhook: WebhookSender | None = None

    def configure_webhook(self, url: str, secret: str, *, timeout_s: float = 10.0) -> WebhookSender:
        """Send every event from now on to `url`, signed with `secret` (replaces an earlier webhook)."""
        if self.webhook is not None:
            self.webhook.close()
        self.webhook = WebhookSender(url, secret, timeout_s=timeout_s)
        return self.webhook

    def deliver(self, ctx: Ctx, repo: RepoRec, event: str, fields: Json) -> None:
        """Queue `event` with `fields` plus repository, organization and sender (no webhook: nothing)."""
        if self.webhook is None:
            return
        payload: Json = {
            **fields,
            "repository": gj.repo_json(ctx.urls, repo, self._account(ctx, repo.owner)),
            "sender": self._account(ctx, ctx.principal),
        }
        org = self.store.find_org(repo.owner)
        if org is not None:
            payload["organization"] = gj.org_json(ctx.urls, org, full=False)
        self.webhook.send(event, payload, repository_id=repo.id)

    def hook_routes(self, repo: str) -> list[tuple[str, str, Handler]]:
        hook = f"{repo}/hooks/{{hook_id}}"
        return [
            ("POST", f"{repo}/releases", self._create_release),
            ("GET", f"{hook}/deliveries", self._hook_deliveries),
            ("POST", f"{hook}/deliveries/{{delivery_id}}/attempts", self._hook_redeliver),
        ]

    def _sender(self, p: dict[str, str]) -> WebhookSender:
        self._repo(p)
        if self.webhook is None or int_or_404(p["hook_id"]) != HOOK_ID:
            raise not_found()
        return self.webhook

    def _hook_deliveries(self, ctx: Ctx, p: dict[str, str]) -> Response:
        sender = self._sender(p)
        return json_response(200, [d.view() for d in sender.deliveries()])

    def _hook_redeliver(self, ctx: Ctx, p: dict[str, str]) -> Response:
        sender = self._sender(p)
        try:
            sender.redeliver(int_or_404(p["delivery_id"]))
        except KeyError:
            raise not_found() from None
        return json_response(202, {})

    def _create_release(self, ctx: Ctx, p: dict[str, str]) -> Response:
        """`POST .../releases` for an existing tag; not a draft: published now (`release` events)."""
        repo = self._repo(p)
        body = self._body(ctx)
        if not isinstance(body, dict) or not isinstance(body.get("tag_name"), str) or not body["tag_name"]:
            raise invalid("tag_name", "tag_name is missing", "Release", "missing_field")
        tag = repo.tags.get(body["tag_name"])
        if tag is None:
            raise ApiError(422, "Validation Failed: this emulator publishes releases of existing tags only")
        now = self._now()
        draft = bool(body.get("draft", False))
        rel = ReleaseRec(
            id=self.store.next_id("release"),
            tag_name=tag.name,
            name=str(body["name"]) if isinstance(body.get("name"), str) else tag.name,
            draft=draft,
            prerelease=bool(body.get("prerelease", False)),
            created_at=now,
            published_at=None if draft else now,
            target_commitish=str(body.get("target_commitish") or repo.default_branch),
            author=ctx.principal,
        )
        repo.releases[rel.id] = rel
        view = gj.release_json(ctx.urls, repo, rel, self._account(ctx, rel.author))
        self.deliver(ctx, repo, "release", {"action": "created", "release": view})
        if not draft:
            self.deliver(ctx, repo, "release", {"action": "published", "release": view})
        return json_response(201, view)
