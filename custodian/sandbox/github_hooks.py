"""Webhooks of the GitHub emulator: repository and organization hooks, the events that fire them, deliveries.

Hooks, as GitHub's REST API has them (the sender of each is a `WebhookSender`):

- `POST /repos/{o}/{r}/hooks` and `POST /orgs/{org}/hooks` (`name: web`, `config.url`, optional
  `config.content_type` `json` or `form` (GitHub's default: `form`), `config.secret`, `events`
  (default `["push"]`, `["*"]` for all), `active`): 201, then a `ping` delivery. `GET` lists them,
  `GET|DELETE .../hooks/{id}` one; the secret is shown as `********`. An organization hook gets the
  events of every repository of the organization.
- `GET .../hooks/{id}/deliveries` (newest first, paged), `GET .../deliveries/{delivery_id}` (with the
  request's headers and payload), `POST .../deliveries/{delivery_id}/attempts` (202: redelivered,
  same `X-GitHub-Delivery`, `redelivery: true`), `POST .../hooks/{id}/pings` (204).
- `configure_webhook(url, secret)` (tests, the benchmark, `sandbox serve`): hook id 1, JSON, every
  event of every repository, reached through the repository routes above.

Events: creating a tag ref (`POST .../git/refs`: `create`, `ref_type: tag`), publishing a release
(`POST .../releases` without `draft`: `release` `created` then `published`), creating a deployment
(`POST .../deployments`: `deployment` `created`) and adding a deployment status
(`POST .../deployments/{id}/statuses`: `deployment_status` `created`), each with `repository`,
`organization` (when the owner is one) and `sender`, as GitHub shapes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from custodian.sandbox import github_json as gj
from custodian.sandbox.clock import iso
from custodian.sandbox.github_base import ApiError, Ctx, GithubRoutesBase, Handler, int_or_404, invalid, not_found
from custodian.sandbox.github_json import Json, seg
from custodian.sandbox.github_records import DeploymentRec
from custodian.sandbox.github_store import ReleaseRec, RepoRec
from custodian.sandbox.github_webhook_sender import HOOK_ID, Delivery, WebhookSender
from custodian.sandbox.httpserver import Response, empty_response, json_response

__all__ = ["HOOK_ID", "Delivery", "GithubHookRoutes", "HookRec", "WebhookSender"]

_CONTENT_TYPES = ("json", "form")


@dataclass
class HookRec:
    """A hook registered through the API: on a repository (`owner` is `o/r`) or an organization."""

    id: int
    kind: str  # "Repository" or "Organization"
    owner: str  # lower-case `owner/repo` or org login
    events: list[str]
    active: bool
    url: str
    content_type: str
    insecure_ssl: str
    created_at: datetime
    sender: WebhookSender

    def covers(self, repo: RepoRec) -> bool:
        if self.kind == "Organization":
            return self.owner == repo.owner.lower()
        return self.owner == repo.full_name.lower()


class GithubHookRoutes(GithubRoutesBase):
    """Hooks and deliveries (`deliver` is called by the routes that make events) and their routes."""

    webhook: WebhookSender | None = None
    _hooks: dict[int, HookRec] | None = None

    def configure_webhook(self, url: str, secret: str, *, timeout_s: float = 10.0) -> WebhookSender:
        """Send every event from now on to `url`, signed with `secret` (replaces an earlier one; hook id 1)."""
        if self.webhook is not None:
            self.webhook.close()
        self.webhook = WebhookSender(url, secret, timeout_s=timeout_s)
        return self.webhook

    @property
    def hooks(self) -> dict[int, HookRec]:
        if self._hooks is None:
            self._hooks = {}
        return self._hooks

    def deliver(self, ctx: Ctx, repo: RepoRec, event: str, fields: Json) -> None:
        """Queue `event` with `fields` plus repository, organization and sender to every hook that wants it."""
        senders = [self.webhook] if self.webhook is not None else []
        senders += [h.sender for h in self.hooks.values() if h.active and h.covers(repo) and h.sender.wants(event)]
        if not senders:
            return
        payload: Json = {
            **fields,
            "repository": gj.repo_json(ctx.urls, repo, self._account(ctx, repo.owner)),
            "sender": self._account(ctx, ctx.principal),
        }
        org = self.store.find_org(repo.owner)
        if org is not None:
            payload["organization"] = gj.org_json(ctx.urls, org, full=False)
        for sender in senders:
            sender.send(event, payload, repository_id=repo.id)

    def hook_routes(self, repo: str) -> list[tuple[str, str, Handler]]:
        routes: list[tuple[str, str, Handler]] = [
            ("POST", f"{repo}/releases", self._create_release),
            ("POST", f"{repo}/deployments", self._create_deployment),
        ]
        for base in (repo, "/orgs/{org}"):
            hook = f"{base}/hooks/{{hook_id}}"
            routes += [
                ("GET", f"{base}/hooks", self._list_hooks),
                ("POST", f"{base}/hooks", self._create_hook),
                ("GET", hook, self._get_hook),
                ("DELETE", hook, self._delete_hook),
                ("POST", f"{hook}/pings", self._ping_hook),
                ("GET", f"{hook}/deliveries", self._hook_deliveries),
                ("GET", f"{hook}/deliveries/{{delivery_id}}", self._hook_delivery),
                ("POST", f"{hook}/deliveries/{{delivery_id}}/attempts", self._hook_redeliver),
            ]
        return routes

    # -- hooks ---------------------------------------------------------------------------------------

    def _hook_owner(self, p: dict[str, str]) -> tuple[str, str, int, str]:
        """(kind, owner key, owner id, API url of the owner) of a hook route's owner; 404 if unknown."""
        if "org" in p:
            org = self._org(p["org"])
            return "Organization", org.login.lower(), org.id, f"/orgs/{seg(org.login)}"
        repo = self._repo(p)
        return "Repository", repo.full_name.lower(), repo.id, f"/repos/{repo.full_name}"

    def _hook_json(self, ctx: Ctx, hook: HookRec, owner_url: str) -> Json:
        url = f"{ctx.urls.api}{owner_url}/hooks/{hook.id}"
        out: Json = {
            "type": hook.kind,
            "id": hook.id,
            "name": "web",
            "active": hook.active,
            "events": list(hook.events),
            "config": {"url": hook.url, "content_type": hook.content_type, "insecure_ssl": hook.insecure_ssl},
            "updated_at": iso(hook.created_at),
            "created_at": iso(hook.created_at),
            "url": url,
            "ping_url": f"{url}/pings",
            "deliveries_url": f"{url}/deliveries",
        }
        if hook.sender.signed:
            out["config"]["secret"] = "********"
        if hook.kind == "Repository":
            out["test_url"] = f"{url}/test"
            out["last_response"] = {"code": None, "status": "unused", "message": None}
        return out

    def _owned(self, p: dict[str, str]) -> tuple[HookRec, str]:
        kind, owner, _, owner_url = self._hook_owner(p)
        hook = self.hooks.get(int_or_404(p["hook_id"]))
        if hook is None or hook.kind != kind or hook.owner != owner:
            raise not_found()
        return hook, owner_url

    def _create_hook(self, ctx: Ctx, p: dict[str, str]) -> Response:
        kind, owner, owner_id, owner_url = self._hook_owner(p)
        body = self._body(ctx)
        if not isinstance(body, dict):
            raise ApiError(400, "Problems parsing JSON")
        if body.get("name", "web") != "web":
            raise invalid("name", "name must be web", "Hook")
        config = body.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("url"), str) or not config["url"]:
            raise invalid("url", "url cannot be blank", "Hook", "missing_field")
        content_type = str(config.get("content_type") or "form")
        if content_type not in _CONTENT_TYPES:
            raise invalid("content_type", "content_type must be json or form", "Hook")
        events = body.get("events", ["push"])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events) or not events:
            raise invalid("events", "events must be a non-empty list of event names", "Hook")
        hook_id = max([1000, *self.hooks]) + 1  # id 1 is `configure_webhook`'s
        sender = WebhookSender(
            config["url"],
            str(config.get("secret") or ""),
            hook_id=hook_id,
            target_type=kind.lower(),
            target_id=owner_id,
            content_type=content_type,
            events=events,
        )
        hook = HookRec(
            hook_id,
            kind,
            owner,
            list(events),
            bool(body.get("active", True)),
            config["url"],
            content_type,
            str(config.get("insecure_ssl", "0")),
            self._now(),
            sender,
        )
        self.hooks[hook_id] = hook
        view = self._hook_json(ctx, hook, owner_url)
        if hook.active:
            self._ping(ctx, hook, view, p)
        return json_response(201, view)

    def _ping(self, ctx: Ctx, hook: HookRec, view: Json, p: dict[str, str]) -> None:
        payload: Json = {"zen": "Keep it logically awesome.", "hook_id": hook.id, "hook": view}
        if hook.kind == "Organization":
            payload["organization"] = gj.org_json(ctx.urls, self._org(p["org"]), full=False)
        else:
            repo = self._repo(p)
            payload["repository"] = gj.repo_json(ctx.urls, repo, self._account(ctx, repo.owner))
        payload["sender"] = self._account(ctx, ctx.principal)
        hook.sender.send("ping", payload)

    def _list_hooks(self, ctx: Ctx, p: dict[str, str]) -> Response:
        kind, owner, _, owner_url = self._hook_owner(p)
        mine = [h for h in sorted(self.hooks.values(), key=lambda h: h.id) if h.kind == kind and h.owner == owner]
        return self.page(ctx, mine, lambda h: self._hook_json(ctx, h, owner_url))

    def _get_hook(self, ctx: Ctx, p: dict[str, str]) -> Response:
        hook, owner_url = self._owned(p)
        return json_response(200, self._hook_json(ctx, hook, owner_url))

    def _delete_hook(self, ctx: Ctx, p: dict[str, str]) -> Response:
        hook, _ = self._owned(p)
        del self.hooks[hook.id]
        hook.sender.close()
        return empty_response(204)

    def _ping_hook(self, ctx: Ctx, p: dict[str, str]) -> Response:
        hook, owner_url = self._owned(p)
        self._ping(ctx, hook, self._hook_json(ctx, hook, owner_url), p)
        return empty_response(204)

    # -- deliveries ------------------------------------------------------------------------------------

    def _sender(self, p: dict[str, str]) -> WebhookSender:
        if "org" not in p and int_or_404(p["hook_id"]) == HOOK_ID:
            self._repo(p)
            if self.webhook is None:
                raise not_found()
            return self.webhook
        hook, _ = self._owned(p)
        return hook.sender

    def _hook_deliveries(self, ctx: Ctx, p: dict[str, str]) -> Response:
        sender = self._sender(p)
        return self.page(ctx, sender.deliveries(), lambda d: d.view())

    def _hook_delivery(self, ctx: Ctx, p: dict[str, str]) -> Response:
        sender = self._sender(p)
        try:
            return json_response(200, sender.get(int_or_404(p["delivery_id"])).detail())
        except KeyError:
            raise not_found() from None

    def _hook_redeliver(self, ctx: Ctx, p: dict[str, str]) -> Response:
        sender = self._sender(p)
        try:
            sender.redeliver(int_or_404(p["delivery_id"]))
        except KeyError:
            raise not_found() from None
        return json_response(202, {})

    # -- the events' own writes ------------------------------------------------------------------------

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

    def _create_deployment(self, ctx: Ctx, p: dict[str, str]) -> Response:
        """`POST .../deployments` (`ref` a tag, a commit sha or the default branch): 201 and a `deployment` event."""
        repo = self._repo(p)
        body = self._body(ctx)
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str) or not body["ref"]:
            raise invalid("ref", "ref is missing", "Deployment", "missing_field")
        ref = body["ref"]
        now = self._now()
        pushed = {t.name: t for t in repo.tags.values() if t.pushed_at <= now}
        if ref in pushed:
            sha = pushed[ref].sha
        elif ref.lower() in repo.commits:
            sha = ref.lower()
        elif ref == repo.default_branch:
            sha = self.store.resolve_sha(repo, ref)
        else:
            raise ApiError(422, f"No ref found for: {ref}")
        payload = body.get("payload") or {}
        if isinstance(payload, str):
            payload = {"raw": payload}
        dep = DeploymentRec(
            id=self.store.next_id("deployment"),
            sha=sha,
            ref=ref,
            task=str(body.get("task") or "deploy"),
            environment=str(body.get("environment") or "production"),
            created_at=now,
            updated_at=now,
            creator=ctx.principal,
            description=str(body["description"]) if isinstance(body.get("description"), str) else None,
            payload=dict(payload) if isinstance(payload, dict) else {},
        )
        repo.deployments[dep.id] = dep
        view = gj.deployment_json(ctx.urls, repo, dep, self._account(ctx, dep.creator))
        self.deliver(ctx, repo, "deployment", {"action": "created", "deployment": view, "workflow": None})
        return json_response(201, view)
