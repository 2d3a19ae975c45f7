"""Git database routes of the GitHub REST emulator: tag refs and annotated tag objects.

Mixed into `custodian.sandbox.github.GithubEmulator` (see that module's docstring for the route
list). A ref answers `{ref, node_id, url, object: {sha, type, url}}` where `object.type` is `"tag"`
for an annotated tag (its `sha` is the tag object's, readable at `git/tags/{sha}`) and `"commit"`
for a lightweight one. A tag is listed only once its push time is reached on the emulator's clock;
`POST git/tags` makes an unreferenced tag object, `POST git/refs` pushes `refs/tags/NAME` (only tag
refs are modelled: `matching-refs/heads` is empty) to a known commit or tag object at the clock's
current time (and, with a webhook configured, delivers a `create` event: `github_hooks`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from custodian.sandbox.clock import iso
from custodian.sandbox.github_base import ApiError, Ctx, GithubRoutesBase, Handler, invalid, not_found
from custodian.sandbox.github_json import Json, Urls, node_id, repo_api, seg
from custodian.sandbox.github_store import RepoRec, TagObjectRec, TagRec
from custodian.sandbox.httpserver import Response, json_response

__all__ = ["GithubGitRoutes", "git_tag_json", "tag_ref_json"]

_UNVERIFIED: Json = {"verified": False, "reason": "unsigned", "signature": None, "payload": None, "verified_at": None}


# -- JSON shapes ----------------------------------------------------------------------------------------
def tag_ref_json(u: Urls, repo: RepoRec, tag: TagRec) -> Json:
    api = repo_api(u, repo)
    if tag.object_sha is not None:
        target: Json = {"sha": tag.object_sha, "type": "tag", "url": f"{api}/git/tags/{tag.object_sha}"}
    else:
        target = {"sha": tag.sha, "type": "commit", "url": f"{api}/git/commits/{tag.sha}"}
    return {
        "ref": f"refs/tags/{tag.name}",
        "node_id": node_id("Ref", f"{repo.id}:refs/tags/{tag.name}"),
        "url": f"{api}/git/refs/tags/{seg(tag.name)}",
        "object": target,
    }


def git_tag_json(u: Urls, repo: RepoRec, obj: TagObjectRec) -> Json:
    api = repo_api(u, repo)
    return {
        "node_id": node_id("Tag", f"{repo.id}:{obj.sha}"),
        "tag": obj.tag,
        "sha": obj.sha,
        "url": f"{api}/git/tags/{obj.sha}",
        "message": obj.message,
        "tagger": {"name": obj.tagger_name, "email": obj.tagger_email, "date": iso(obj.tagger_date)},
        "object": {"sha": obj.object_sha, "type": "commit", "url": f"{api}/git/commits/{obj.object_sha}"},
        "verification": dict(_UNVERIFIED),
    }


# -- routes -------------------------------------------------------------------------------------------------
class GithubGitRoutes(GithubRoutesBase):
    """Handlers for `/repos/{o}/{r}/git/...` (tag refs and tag objects)."""

    def git_routes(self, repo: str) -> list[tuple[str, str, Handler]]:
        """(method, pattern, handler) of every git route under the repository pattern `repo`."""
        return [
            ("GET", f"{repo}/git/refs/tags", self._tag_refs),
            ("GET", f"{repo}/git/refs/tags/{{name}}", self._tag_ref),
            ("GET", f"{repo}/git/ref/tags/{{name}}", self._tag_ref),
            ("GET", f"{repo}/git/matching-refs/{{ref}}", self._matching_refs),  # `tags`, `tags%2Fv1`
            ("GET", f"{repo}/git/matching-refs/tags/{{prefix}}", self._matching_refs),
            ("GET", f"{repo}/git/tags/{{tag_sha}}", self._git_tag),
            ("POST", f"{repo}/git/tags", self._create_git_tag),
            ("POST", f"{repo}/git/refs", self._create_git_ref),
        ]

    def pushed_tags(self, repo: RepoRec) -> list[TagRec]:
        """The tags already pushed at the emulator clock's current time."""
        now = self.clock.now()
        return [tag for tag in repo.tags.values() if tag.pushed_at <= now]

    def _tag_render(self, ctx: Ctx, repo: RepoRec) -> Callable[[TagRec], Json]:
        return lambda tag: tag_ref_json(ctx.urls, repo, tag)

    def _tag_refs(self, ctx: Ctx, p: dict[str, str]) -> Response:
        """`git/refs/tags`: every tag ref, by name (404 when there is none, as GitHub answers)."""
        repo = self._repo(p)
        tags = sorted(self.pushed_tags(repo), key=lambda t: t.name)
        if not tags:
            raise not_found()
        return self.page(ctx, tags, self._tag_render(ctx, repo))

    def _matching_refs(self, ctx: Ctx, p: dict[str, str]) -> Response:
        """`git/matching-refs/{ref}`: the refs whose full name starts with `refs/{ref}` (maybe none)."""
        repo = self._repo(p)
        wanted = "refs/" + (f"tags/{p['prefix']}" if "prefix" in p else p["ref"])
        tags = sorted(
            (t for t in self.pushed_tags(repo) if f"refs/tags/{t.name}".startswith(wanted)), key=lambda t: t.name
        )
        return self.page(ctx, tags, self._tag_render(ctx, repo))

    def _tag_ref(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        tag = next((t for t in self.pushed_tags(repo) if t.name == p["name"]), None)
        if tag is None:
            raise not_found()
        return json_response(200, tag_ref_json(ctx.urls, repo, tag))

    def _git_tag(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        obj = repo.tag_objects.get(p["tag_sha"].lower())
        if obj is None or obj.visible_from > self.clock.now():
            raise not_found()
        return json_response(200, git_tag_json(ctx.urls, repo, obj))

    def _create_git_tag(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        body = self._body(ctx)
        if not isinstance(body, dict):
            raise ApiError(400, "Problems parsing JSON")
        for key in ("tag", "message", "object", "type"):
            if not isinstance(body.get(key), str) or (key != "message" and not body[key]):
                raise invalid(key, f"{key} is missing", "Tag", "missing_field")
        if body["type"] != "commit" or body["object"].lower() not in repo.commits:
            raise ApiError(422, "Object does not exist")
        now = self._now()
        raw_tagger = body.get("tagger")
        tagger: dict[str, object] = raw_tagger if isinstance(raw_tagger, dict) else {}
        login = ctx.principal
        obj = TagObjectRec(
            sha=_object_sha(repo, body["tag"], now),
            tag=body["tag"],
            message=body["message"],
            object_sha=body["object"].lower(),
            tagger_name=str(tagger.get("name") or login),
            tagger_email=str(tagger.get("email") or f"{login}@users.noreply.example.invalid"),
            tagger_date=_tagger_date(tagger.get("date"), now),
            visible_from=now,
        )
        repo.tag_objects[obj.sha] = obj
        return json_response(201, git_tag_json(ctx.urls, repo, obj))

    def _create_git_ref(self, ctx: Ctx, p: dict[str, str]) -> Response:
        repo = self._repo(p)
        body = self._body(ctx)
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str) or not isinstance(body.get("sha"), str):
            raise invalid("ref", "ref and sha are required", "Reference", "missing_field")
        ref, sha = body["ref"], body["sha"].lower()
        name = ref.removeprefix("refs/tags/")
        if name == ref or not name or name.endswith("/"):
            raise ApiError(422, "Reference name is not supported: this emulator models refs/tags/NAME only")
        if name in repo.tags:
            raise ApiError(422, "Reference already exists")
        now = self._now()
        obj = repo.tag_objects.get(sha)
        if obj is not None:
            tag = TagRec(name=name, sha=obj.object_sha, pushed_at=now, object_sha=obj.sha)
        elif sha in repo.commits:
            tag = TagRec(name=name, sha=sha, pushed_at=now)
        else:
            raise ApiError(422, "Object does not exist")
        repo.tags[name] = tag
        fields = {"ref": name, "ref_type": "tag", "master_branch": repo.default_branch, "description": None}
        self.deliver(ctx, repo, "create", {**fields, "pusher_type": "user"})
        return json_response(201, tag_ref_json(ctx.urls, repo, tag))


def _object_sha(repo: RepoRec, tag: str, now: datetime) -> str:
    text = f"tag:{repo.full_name}:{tag}:{now.isoformat()}:{len(repo.tag_objects)}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _tagger_date(raw: object, default: datetime) -> datetime:
    if raw is None:
        return default
    if not isinstance(raw, str):
        raise invalid("tagger.date", "tagger.date must be an ISO 8601 timestamp", "Tag")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise invalid("tagger.date", "tagger.date must be an ISO 8601 timestamp", "Tag") from None
    return value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC).replace(microsecond=0)
