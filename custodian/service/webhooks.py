"""`POST /webhooks/github`: GitHub deliveries verified, deduplicated and recorded; the work runs behind them.

The health server hands the request to `WebhookReceiver.serve`, which answers within milliseconds
(GitHub gives up after 10 seconds): it checks, records the event in the ledger and returns. The
leader's `EventRunner` (`custodian.service.events`) runs the hand-off when it is due.

Answers, in the order checked:

- 411 without `Content-Length`, 413 for a body over `service.webhooks.max_body` (not read);
- 401 without `X-Hub-Signature-256`, 403 when it is not `sha256=` + HMAC-SHA256 of the raw body
  with the secret (compared with `hmac.compare_digest`);
- 415 for a form-encoded delivery (register the webhook with content type application/json);
- 400 without `X-GitHub-Event` or `X-GitHub-Delivery`, or when the body is not a JSON object;
- 200 for `ping`;
- 202 otherwise: `accepted` (a hand-off is due at `due_at`), `recorded` (kept, nothing to run: a
  deleted tag, a first-stage tag), `ignored` (another repository, not a release tag, not a
  production success, an event not handled; recorded as ignored, so it is deduplicated and
  audited like the others) or `duplicate` (this delivery id is known: nothing is done again).

Accepted: `create` and `delete` of a tag, `release` published, and `deployment_status` success
in the production environment (compared case-insensitively), of `github.release_repos` only. The
event's version and stage come from the tag with the configuration's naming rules. Its run is
due at the event's time plus the grace (`lifecycle.handoff_grace`; for a production success,
`lifecycle.prod_revocation_grace`). A tag event also records the tag's first sighting at the
delivery's receipt: a lightweight tag's stage starts no later than GitHub said it appeared.

Never logged: the body, the signature, the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from custodian.config import Config
from custodian.ledger.events import EventStatus, WebhookEvent
from custodian.ledger.store import Ledger

PATH: Final = "/webhooks/github"
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_LOG = logging.getLogger("release_custodian.webhooks")


class Headers(Protocol):
    def get(self, name: str, default: None = None) -> str | None: ...


class Body(Protocol):
    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: its status, a small JSON body, and whether to close the connection."""

    status: int
    body: Mapping[str, Any]
    close: bool = False

    def encoded(self) -> bytes:
        return json.dumps(dict(self.body), default=str).encode()


def signature_of(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` GitHub sends for `body`: `sha256=` + the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _error(status: int, message: str, close: bool = False) -> Answer:
    return Answer(status, {"error": message}, close)


class WebhookReceiver:
    """Checks and records GitHub deliveries (see the module docstring); thread-safe."""

    def __init__(
        self, config: Config, ledger: Ledger, clock: Callable[[], datetime], secret: bytes, max_body: int
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret must not be empty")
        self.config = config
        self.ledger = ledger
        self.events = ledger
        self.clock = clock
        self.max_body = max_body
        self._secret = secret
        self._repos = {repo.lower(): repo for repo in config.github.release_repos}

    def serve(self, headers: Headers, body: Body) -> Answer:
        """Read the request body (unless it is too large) and answer it."""
        raw_length = headers.get("Content-Length")
        if raw_length is None:
            return _error(411, "Content-Length is required", close=True)
        try:
            length = int(raw_length)
        except ValueError:
            return _error(400, "Content-Length is not a number", close=True)
        if length < 0:
            return _error(400, "Content-Length is negative", close=True)
        if length > self.max_body:
            _LOG.warning(f"webhook: refused a {length}-byte delivery (limit {self.max_body})")
            return _error(413, f"the body is larger than {self.max_body} bytes", close=True)
        return self.receive(headers, body.read(length))

    def receive(self, headers: Headers, body: bytes) -> Answer:
        signature = headers.get("X-Hub-Signature-256")
        if not signature:
            _LOG.warning("webhook: refused an unsigned delivery (no X-Hub-Signature-256)")
            return _error(401, "X-Hub-Signature-256 is required")
        if not hmac.compare_digest(signature.strip().encode(), signature_of(self._secret, body).encode()):
            _LOG.warning("webhook: refused a delivery whose signature does not match")
            return _error(403, "the signature does not match")
        content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            return _error(415, "register the webhook with content type application/json")
        event, delivery = headers.get("X-GitHub-Event"), headers.get("X-GitHub-Delivery")
        if not event or not delivery:
            return _error(400, "X-GitHub-Event and X-GitHub-Delivery are required")
        if not _DELIVERY_ID.match(delivery):
            return _error(400, "X-GitHub-Delivery is not a delivery id")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body is not JSON")
        if not isinstance(payload, dict):
            return _error(400, "the body is not a JSON object")
        if event == "ping":
            return Answer(200, {"status": "pong", "hook_id": payload.get("hook_id")})
        now = self.clock()
        record = classify(self.config, self._repos, event, delivery, payload, now)
        if not self.events.record_webhook_event(record):
            _LOG.info(f"webhook {delivery}: {event} already recorded (a redelivery): nothing to do")
            return Answer(202, {"status": "duplicate", "delivery": delivery})
        if record.ref and record.version and record.event in ("create", "release"):
            self.ledger.record_tag_sightings(record.repo, [record.ref], now)
        _LOG.info(
            f"webhook {delivery}: {event} {record.action} {record.repo} {record.ref or ''}: {record.status.value}"
            + (f", due {record.due_at:%Y-%m-%dT%H:%M:%SZ}" if record.due_at else "")
        )
        status = "accepted" if record.status is EventStatus.PENDING else record.status.value
        answer: dict[str, Any] = {"status": status, "delivery": delivery, "detail": record.detail}
        if record.version:
            answer["version"] = record.version
        if record.due_at:
            answer["due_at"] = record.due_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return Answer(202, answer)


def classify(
    config: Config, repos: Mapping[str, str], event: str, delivery: str, payload: Mapping[str, Any], now: datetime
) -> WebhookEvent:
    """What a verified delivery means to the custodian (pure: no I/O, time passed in)."""
    repository = payload.get("repository")
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    repo = str(full_name) if isinstance(full_name, str) else ""
    base = WebhookEvent(delivery, event, "", repo, None, None, None, EventStatus.IGNORED, now)
    if repo.lower() not in repos:
        return replace(base, detail=f"'{repo or '?'}' is not one of github.release_repos")
    base = replace(base, repo=repos[repo.lower()])
    lifecycle = config.lifecycle
    if event in ("create", "delete"):
        ref_type, ref = str(payload.get("ref_type") or ""), payload.get("ref")
        base = replace(base, action=ref_type, ref=str(ref) if isinstance(ref, str) else None)
        if ref_type != "tag" or base.ref is None:
            return replace(base, detail=f"a {ref_type or 'ref'} {event}, not a tag")
        return _tagged(config, base, base.ref, now, lifecycle.handoff_grace)
    if event == "release":
        release = _object(payload, "release")
        action, tag = str(payload.get("action") or ""), release.get("tag_name")
        base = replace(base, action=action, ref=tag if isinstance(tag, str) else None)
        if action != "published" or base.ref is None:
            return replace(base, detail=f"release {action or '?'}: only published releases start a stage")
        return _tagged(config, base, base.ref, _time(release.get("published_at")) or now, lifecycle.handoff_grace)
    if event == "deployment_status":
        status, deployment = _object(payload, "deployment_status"), _object(payload, "deployment")
        state = str(status.get("state") or "")
        environment = str(status.get("environment") or deployment.get("environment") or "")
        ref = deployment.get("ref")
        base = replace(base, action=state, ref=ref if isinstance(ref, str) else None)
        if state != "success":
            return replace(base, detail=f"deployment status {state or '?'}: only a success counts")
        if environment.lower() != config.github.production_environment.lower():
            return replace(base, detail=f"environment '{environment}' is not the production environment")
        if base.ref is None:
            return replace(base, detail="the deployment names no ref")
        occurred = _time(status.get("created_at")) or now
        return _tagged(config, base, base.ref, occurred, lifecycle.prod_revocation_grace)
    return replace(base, detail=f"{event} events are not used")


def _tagged(config: Config, base: WebhookEvent, tag: str, occurred: datetime, grace: timedelta) -> WebhookEvent:
    match = config.namer().parse_tag(tag)
    if match is None:
        return replace(base, detail=f"'{tag}' is not a release tag of the naming rules")
    base = replace(base, version=match.version, stage=match.stage, occurred_at=occurred)
    if base.event == "delete":
        return replace(base, status=EventStatus.RECORDED, detail="a deleted tag revokes nothing: recorded")
    if base.event != "deployment_status" and match.stage == config.stages[0]:
        return replace(base, status=EventStatus.RECORDED, detail="a first-stage tag: no stage to hand off from")
    return replace(
        base,
        status=EventStatus.PENDING,
        due_at=occurred + grace,
        detail=f"hand-off of {match.version} ({match.stage} started) due after the grace",
    )


def _object(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def _time(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
