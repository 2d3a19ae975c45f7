"""One webhook's deliveries in the GitHub emulator: signed POSTs from a background thread, every attempt kept.

A `WebhookSender` is one hook (a repository's, an organization's, or the one `configure_webhook`
registers): its URL, secret, content type (`json`: the payload as the body; `form`: the body is
`payload=<url-encoded JSON>`, as GitHub sends it) and events (`*` for all; `ping` is always sent).
Headers as GitHub sends them: `X-GitHub-Event`, `X-GitHub-Delivery` (a uuid4), `X-GitHub-Hook-ID`,
`X-GitHub-Hook-Installation-Target-Type` / `-ID` (`repository` or `organization` and its id),
`X-Hub-Signature-256` (`sha256=` HMAC-SHA256 of the body as sent), `X-Hub-Signature` (sha1),
`User-Agent: GitHub-Hookshot/<hex>`. Deliveries go out in order, 10 s timeout each, and are never
retried by the sender (GitHub does not retry either): `redeliver(id)` sends one again with the same
guid and `redelivery: true`, as the deliveries API does.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from custodian.sandbox.clock import iso
from custodian.sandbox.github_json import Json

__all__ = ["HOOK_ID", "Delivery", "WebhookSender"]

HOOK_ID = 1  # the id of the hook `configure_webhook` registers
_USER_AGENT = "GitHub-Hookshot/5f3e1c2"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the URL, never a proxy
_DELIVERY_IDS: Iterator[int] = itertools.count(1)  # delivery ids are unique across hooks, as on GitHub
_IDS_LOCK = threading.Lock()


def _next_delivery_id() -> int:
    with _IDS_LOCK:
        return next(_DELIVERY_IDS)


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
    request_headers: dict[str, str] = field(default_factory=dict)

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
            "throttled_at": None,
        }

    def detail(self) -> Json:
        """`GET .../deliveries/{id}`: the summary plus the request as sent (headers, payload)."""
        text = self.body.decode()
        if text.startswith("payload="):
            text = urllib.parse.unquote_plus(text.removeprefix("payload="))
        return {
            **self.view(),
            "url": "",
            "request": {"headers": dict(self.request_headers), "payload": json.loads(text)},
            "response": {"headers": {}, "payload": None},
        }


class WebhookSender:
    """Signs and POSTs one hook's deliveries to its URL from one background thread; keeps every attempt."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout_s: float = 10.0,
        hook_id: int = HOOK_ID,
        target_type: str = "repository",
        target_id: int | None = None,
        content_type: str = "json",
        events: Sequence[str] = ("*",),
    ) -> None:
        self.url = url
        self._secret = secret.encode()
        self.timeout_s = timeout_s
        self.hook_id = hook_id
        self.target_type = target_type
        self.target_id = target_id
        self.content_type = content_type
        self.events = tuple(events)
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._attempts: list[Delivery] = []
        self._thread = threading.Thread(target=self._work, name=f"github-hook-{hook_id}", daemon=True)
        self._thread.start()

    @property
    def signed(self) -> bool:
        """Whether deliveries carry signatures of a secret (a hook without one sends them unsigned)."""
        return bool(self._secret)

    def wants(self, event: str) -> bool:
        return event == "ping" or "*" in self.events or event in self.events

    def send(self, event: str, payload: Json, *, repository_id: int | None = None) -> str:
        """Queue a delivery of `payload` as `event`; returns its `X-GitHub-Delivery` guid."""
        action = payload.get("action")
        text = json.dumps(payload, separators=(",", ":"))
        body = text.encode() if self.content_type == "json" else ("payload=" + urllib.parse.quote_plus(text)).encode()
        delivery = self._new(str(uuid.uuid4()), event, action if isinstance(action, str) else None, repository_id, body)
        self._queue.put(delivery)
        return delivery.guid

    def redeliver(self, delivery_id: int) -> Delivery:
        """Send an earlier attempt again (same guid, `redelivery: true`); KeyError if there is no such id."""
        earlier = self.get(delivery_id)
        again = self._new(earlier.guid, earlier.event, earlier.action, earlier.repository_id, earlier.body)
        again.redelivery = True
        self._queue.put(again)
        return again

    def get(self, delivery_id: int) -> Delivery:
        """One attempt by id; KeyError if this hook made none with that id."""
        with self._lock:
            found = next((d for d in self._attempts if d.id == delivery_id), None)
        if found is None:
            raise KeyError(delivery_id)
        return found

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
        delivery = Delivery(_next_delivery_id(), guid, event, action, repository_id, body)
        with self._lock:
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
        media = "application/json" if self.content_type == "json" else "application/x-www-form-urlencoded"
        headers = {
            "Content-Type": media,
            "User-Agent": _USER_AGENT,
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.guid,
            "X-GitHub-Hook-ID": str(self.hook_id),
            "X-GitHub-Hook-Installation-Target-Type": self.target_type,
        }
        if self.signed:  # GitHub signs only when the hook has a secret
            headers["X-Hub-Signature"] = "sha1=" + hmac.new(self._secret, delivery.body, hashlib.sha1).hexdigest()
            headers["X-Hub-Signature-256"] = (
                "sha256=" + hmac.new(self._secret, delivery.body, hashlib.sha256).hexdigest()
            )
        if self.target_id is not None:
            headers["X-GitHub-Hook-Installation-Target-ID"] = str(self.target_id)
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
            delivery.request_headers = {k: v for k, v in headers.items() if not k.startswith("X-Hub-Signature")}
