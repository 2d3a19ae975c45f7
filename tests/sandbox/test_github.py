"""The GitHub REST emulator, driven by real PyGithub 2.x over real HTTP (nothing in PyGithub is patched)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from github import Auth, BadCredentialsException, Github, GithubException, UnknownObjectException

from custodian.sandbox.clock import SandboxClock, iso
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.github import GithubEmulator, start_github
from custodian.sandbox.github_store import GithubSeedError, GithubStore
from custodian.sandbox.httpserver import EmulatorServer

TOKEN = "sandbox-token"
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Sandbox:
    emulator: GithubEmulator
    server: EmulatorServer
    clock: SandboxClock

    @property
    def store(self) -> GithubStore:
        return self.emulator.store

    @property
    def api(self) -> str:
        return self.server.url + "/api/v3"

    def client(self, token: str = TOKEN, **kwargs: Any) -> Github:
        return Github(
            auth=Auth.Token(token),
            base_url=self.api,
            per_page=2,
            seconds_between_requests=0,
            seconds_between_writes=0,
            **kwargs,
        )


def _start(faults: FaultPlan | None = None) -> Sandbox:
    clock = SandboxClock(NOW)
    emulator, server = start_github(faults=faults, clock=clock, tokens={TOKEN})
    return Sandbox(emulator, server, clock)


@pytest.fixture(scope="module")
def shared() -> Iterator[Sandbox]:
    sandbox = _start()
    try:
        yield sandbox
    finally:
        sandbox.server.stop()


@pytest.fixture
def sb(shared: Sandbox) -> Sandbox:
    """The module's server, reset: empty store, no faults, empty log, clock at NOW, fresh counters."""
    shared.store.clear()
    shared.store.principal_login = None
    shared.server.set_faults(FaultPlan())
    shared.server.clear_log()
    shared.clock.set(NOW)
    shared.emulator.reset()
    return shared


@pytest.fixture
def g(sb: Sandbox) -> Github:
    return sb.client()


def seed_timeline(store: GithubStore, count: int = 5) -> None:
    store.add_repo("acme/app")
    for i in range(count):
        when = T0 + timedelta(days=i)
        store.add_tag("acme/app", f"v0.0.{i}", date=when)
        store.add_release("acme/app", f"v0.0.{i}", created_at=when + timedelta(hours=1))


def seed_people(store: GithubStore) -> None:
    store.add_org("acme")
    store.add_user("alice", name="Alice A", created_at=T0)
    store.add_user("bob")
    store.add_user("carol")
    store.add_member("acme", "alice", role="admin")
    store.add_member("acme", "bob")
    store.add_member("acme", "carol")


def links(headers: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in str(headers.get("link", "")).split(", "):
        match = re.fullmatch(r'<([^>]+)>; rel="(\w+)"', part)
        if match:
            out[match.group(2)] = match.group(1)
    return out


def pages(sb: Sandbox, suffix: str) -> list[str]:
    """The query strings of the logged GETs whose path ends with `suffix`."""
    return [r.query for r in sb.server.requests if r.method == "GET" and r.path.endswith(suffix)]


# -- release timeline ----------------------------------------------------------------------------------
def test_tags_page_through_link_headers_and_carry_commit_dates(sb: Sandbox, g: Github) -> None:
    seed_timeline(sb.store)
    repo = g.get_repo("acme/app")
    tags = list(repo.get_tags())
    assert [t.name for t in tags] == [f"v0.0.{i}" for i in range(4, -1, -1)]
    assert tags[-1].commit.commit.committer.date == T0
    assert tags[0].commit.commit.author.date == T0 + timedelta(days=4)
    queried = pages(sb, "/tags")
    assert len(queried) == 3
    assert [parse_qs(q).get("page") for q in queried] == [None, ["2"], ["3"]]
    assert all(parse_qs(q)["per_page"] == ["2"] for q in queried)


def test_releases_latest_and_lookups(sb: Sandbox, g: Github) -> None:
    seed_timeline(sb.store)
    sb.store.add_release("acme/app", "v0.1.0-rc1", created_at=T0 + timedelta(days=10), prerelease=True)
    sb.store.add_release("acme/app", "v0.2.0", created_at=T0 + timedelta(days=11), draft=True)
    repo = g.get_repo("acme/app")
    releases = list(repo.get_releases())
    assert [r.tag_name for r in releases][:3] == ["v0.2.0", "v0.1.0-rc1", "v0.0.4"]
    assert len(releases) == 7
    assert len(pages(sb, "/releases")) == 4
    draft = releases[0]
    assert draft.draft and draft.published_at is None
    latest = repo.get_latest_release()
    assert latest.tag_name == "v0.0.4"
    assert latest.published_at == T0 + timedelta(days=4, hours=1)
    assert repo.get_release("v0.0.2").created_at == T0 + timedelta(days=2, hours=1)
    assert repo.get_release(latest.id).tag_name == "v0.0.4"
    assert repo.get_releases().totalCount == 7
    with pytest.raises(UnknownObjectException):
        repo.get_release("v9.9.9")


def test_deployments_filtered_by_environment_and_statuses_newest_first(sb: Sandbox, g: Github) -> None:
    sb.store.add_repo("acme/app")
    tag_sha = sb.store.add_tag("acme/app", "v1.0.0", date=T0)["sha"]
    prod_ids = []
    for i in range(9):
        env = "production" if i % 3 else "uat"
        dep = sb.store.add_deployment("acme/app", environment=env, ref="v1.0.0", created_at=T0 + timedelta(hours=i))
        if env == "production":
            prod_ids.append(dep["id"])
    target = prod_ids[-1]
    for j, state in enumerate(["queued", "in_progress", "failure", "pending", "success"]):
        sb.store.add_deployment_status("acme/app", target, state=state, created_at=T0 + timedelta(days=1, minutes=j))
    repo = g.get_repo("acme/app")
    deployments = list(repo.get_deployments(environment="production"))
    assert [d.id for d in deployments] == prod_ids[::-1]
    assert {d.environment for d in deployments} == {"production"}
    assert deployments[0].sha == tag_sha and deployments[0].ref == "v1.0.0"
    assert len(pages(sb, "/deployments")) == 3
    assert all(parse_qs(q)["environment"] == ["production"] for q in pages(sb, "/deployments"))

    statuses = list(deployments[0].get_statuses())
    assert [s.state for s in statuses] == ["success", "pending", "failure", "in_progress", "queued"]
    assert statuses[0].created_at == T0 + timedelta(days=1, minutes=4)
    assert len(pages(sb, f"/deployments/{target}/statuses")) == 3

    created = deployments[0].create_status("inactive", description="superseded")
    assert created.state == "inactive" and created.created_at == NOW
    assert next(iter(deployments[0].get_statuses())).id == created.id
    assert list(repo.get_deployments(environment="nowhere")) == []


# -- users and GHES site admin ---------------------------------------------------------------------------
def test_get_user_shows_suspension_and_account_fields(sb: Sandbox, g: Github) -> None:
    seed_people(sb.store)
    sb.store.add_user("dormant", suspended_at=NOW - timedelta(days=3), site_admin=True)
    alice = g.get_user("alice")
    assert alice.name == "Alice A" and alice.type == "User" and alice.site_admin is False
    assert alice.suspended_at is None and alice.created_at == T0
    dormant = g.get_user("DORMANT")
    assert dormant.login == "dormant" and dormant.site_admin is True
    assert dormant.suspended_at == NOW - timedelta(days=3)
    me = g.get_user()
    assert me.login == sb.store.principal_login and me.site_admin is True
    with pytest.raises(UnknownObjectException):
        g.get_user("nobody")


def test_principal_follows_seeded_site_admin_and_non_admins_get_403(sb: Sandbox, g: Github) -> None:
    assert g.get_user().login == "ghe-admin"  # nothing seeded: the built-in site admin
    sb.store.add_user("octo-admin", site_admin=True)
    sb.store.add_repo("acme/app")
    assert sb.store.principal_login == "octo-admin"
    assert g.get_user().login == "octo-admin"
    sb.store.add_user("plain-user")
    sb.store.principal_login = "plain-user"
    with pytest.raises(GithubException) as info:
        g.requester.requestJsonAndCheck("POST", "/admin/users", input={"login": "someone"})
    assert info.value.status == 403
    assert sb.store.user("someone") is None


def test_admin_create_suspend_unsuspend_delete_user(sb: Sandbox, g: Github) -> None:
    req = g.requester
    _, created = req.requestJsonAndCheck("POST", "/admin/users", input={"login": "v0-0-1-uat-bot"})
    assert created["login"] == "v0-0-1-uat-bot" and created["type"] == "User"
    for bad in ("v0.0.1-uat-bot", "-lead", "trail-", "dou--ble", "x" * 40, "V0-0-1-UAT-BOT"):
        with pytest.raises(GithubException) as info:
            req.requestJsonAndCheck("POST", "/admin/users", input={"login": bad})
        assert info.value.status == 422
        assert info.value.data["message"] == "Validation Failed"
        assert info.value.data["errors"][0]["field"] == "login"

    req.requestJsonAndCheck("PUT", "/users/v0-0-1-uat-bot/suspended")  # no body: Content-Length 0
    assert g.get_user("v0-0-1-uat-bot").suspended_at == NOW
    user = sb.store.user("v0-0-1-uat-bot")
    assert user is not None and user["suspended_at"] == iso(NOW)

    req.requestJsonAndCheck("DELETE", "/users/v0-0-1-uat-bot/suspended")
    assert g.get_user("v0-0-1-uat-bot").suspended_at is None
    sb.clock.advance(timedelta(hours=2))
    req.requestJsonAndCheck("PUT", "/users/v0-0-1-uat-bot/suspended", input={"reason": "release retired"})
    user = sb.store.user("v0-0-1-uat-bot")
    assert user is not None and user["suspended_at"] == iso(NOW + timedelta(hours=2))
    assert user["suspension_reason"] == "release retired"

    with pytest.raises(GithubException) as info:
        req.requestJsonAndCheck("PUT", f"/users/{sb.store.principal_login}/suspended")
    assert info.value.status == 403

    status, _, _ = req.requestJson("DELETE", "/admin/users/v0-0-1-uat-bot")
    assert status == 204
    assert sb.store.user("v0-0-1-uat-bot") is None
    with pytest.raises(UnknownObjectException):
        g.get_user("v0-0-1-uat-bot")
    with pytest.raises(UnknownObjectException):
        req.requestJsonAndCheck("DELETE", "/admin/users/v0-0-1-uat-bot")


def test_impersonation_tokens_create_list_use_delete(sb: Sandbox, g: Github) -> None:
    sb.store.add_user("deployer")
    req = g.requester
    status, _, body = req.requestJson("POST", "/admin/users/deployer/authorizations", input={"scopes": ["repo"]})
    assert status == 201
    first = json.loads(body)
    secret = first["token"]
    assert secret and first["token_last_eight"] == secret[-8:] and first["scopes"] == ["repo"]

    status, _, body = req.requestJson("POST", "/admin/users/deployer/authorizations", input={"scopes": ["repo"]})
    assert status == 200 and '"token": ""' in body
    _, again = req.requestJsonAndCheck("POST", "/admin/users/deployer/authorizations", input={"scopes": ["read:org"]})
    assert again["token"] and again["id"] != first["id"]

    _, listed = req.requestJsonAndCheck("GET", "/admin/users/deployer/authorizations")
    assert sorted(t["id"] for t in listed) == sorted([first["id"], again["id"]])
    assert all(t["token"] == "" and t["user"]["login"] == "deployer" for t in listed)

    as_deployer = sb.client(secret)
    assert as_deployer.get_user().login == "deployer"

    status, _, _ = req.requestJson("DELETE", "/admin/users/deployer/authorizations")
    assert status == 204
    assert sb.store.impersonation_tokens("deployer") == []
    with pytest.raises(BadCredentialsException):
        sb.client(secret).get_user().login  # noqa: B018 - the attribute access performs the request


def test_pat_grants_list_with_owner_filter_following_links_and_revoke(sb: Sandbox, g: Github) -> None:
    seed_people(sb.store)
    sb.store.add_repo("acme/app")
    sb.store.add_repo("acme/infra")
    ids: dict[str, list[int]] = {"alice": [], "bob": [], "carol": []}
    for i, owner in enumerate(["alice", "bob", "alice", "carol", "alice", "bob", "alice"]):
        grant = sb.store.add_pat_grant(
            "acme",
            owner,
            token_name=f"v0-0-{i}-uat-gh",
            access_granted_at=T0 + timedelta(days=i),
            token_expires_at=NOW - timedelta(days=1) if i == 0 else NOW + timedelta(days=30),
            token_last_used_at=T0 + timedelta(days=i, hours=3) if i % 2 else None,
            repository_selection="subset" if owner == "bob" else "all",
            repositories=["infra"] if owner == "bob" else None,
            permissions={"repository": {"contents": "write"}},
        )
        ids[owner].append(grant["id"])

    req = g.requester
    params: dict[str, Any] = {"per_page": 2, "owner[]": ["alice", "bob"], "sort": "created_at", "direction": "asc"}
    headers, data = req.requestJsonAndCheck("GET", "/orgs/acme/personal-access-tokens", parameters=params)
    seen = list(data)
    nexts = 0
    while "next" in links(headers):
        next_url = links(headers)["next"]
        assert next_url.startswith(sb.server.url + "/api/v3/orgs/acme/personal-access-tokens?")
        assert parse_qs(urlsplit(next_url).query)["owner[]"] == ["alice", "bob"]
        headers, data = req.requestJsonAndCheck("GET", next_url)
        seen.extend(data)
        nexts += 1
    assert nexts == 2
    assert [x["id"] for x in seen] == sorted(ids["alice"] + ids["bob"])
    first = seen[0]
    assert first["owner"]["login"] == "alice" and first["token_expired"] is True
    assert first["token_name"] == "v0-0-0-uat-gh" and first["access_granted_at"] == iso(T0)
    assert first["permissions"]["repository"]["contents"] == "write"

    _, only_infra = req.requestJsonAndCheck(
        "GET", "/orgs/acme/personal-access-tokens", parameters={"repository": "app", "per_page": 100}
    )
    assert {x["owner"]["login"] for x in only_infra} == {"alice", "carol"}
    _, used_late = req.requestJsonAndCheck(
        "GET", "/orgs/acme/personal-access-tokens", parameters={"last_used_after": iso(T0 + timedelta(days=2))}
    )
    assert {x["id"] for x in used_late} == {ids["carol"][0], ids["bob"][1]}
    _, repos = req.requestJsonAndCheck("GET", f"/orgs/acme/personal-access-tokens/{ids['bob'][0]}/repositories")
    assert [r["full_name"] for r in repos] == ["acme/infra"]

    status, _, _ = req.requestJson(
        "POST", f"/orgs/acme/personal-access-tokens/{ids['carol'][0]}", input={"action": "revoke"}
    )
    assert status == 204
    status, _, body = req.requestJson(
        "POST", "/orgs/acme/personal-access-tokens", input={"action": "revoke", "pat_ids": ids["bob"]}
    )
    assert status == 202 and body.strip() == "{}"
    remaining = {x["id"] for x in sb.store.pat_grants("acme")}
    assert remaining == set(ids["alice"])
    _, listed = req.requestJsonAndCheck("GET", "/orgs/acme/personal-access-tokens", parameters={"per_page": 100})
    assert {x["id"] for x in listed} == remaining

    for bad in ({"action": "revoke", "pat_ids": []}, {"action": "delete", "pat_ids": [ids["alice"][0]]}, {}):
        with pytest.raises(GithubException) as info:
            req.requestJsonAndCheck("POST", "/orgs/acme/personal-access-tokens", input=bad)
        assert info.value.status == 422
    with pytest.raises(GithubException) as info:
        req.requestJsonAndCheck(
            "POST", "/orgs/acme/personal-access-tokens", input={"action": "revoke", "pat_ids": list(range(101))}
        )
    assert info.value.status == 422
    with pytest.raises(UnknownObjectException):
        req.requestJsonAndCheck(
            "POST", f"/orgs/acme/personal-access-tokens/{ids['carol'][0]}", input={"action": "revoke"}
        )


def test_ssh_keys_public_and_admin_listing_and_delete(sb: Sandbox, g: Github) -> None:
    seed_people(sb.store)
    k1 = sb.store.add_ssh_key("alice", key="ssh-ed25519 AAAA1", title="laptop", created_at=T0)
    k2 = sb.store.add_ssh_key("alice", key="ssh-ed25519 AAAA2", title="ci", created_at=T0 + timedelta(days=1))
    k3 = sb.store.add_ssh_key("bob", key="ssh-ed25519 BBBB1", title="bob", created_at=T0 + timedelta(days=2))
    req = g.requester
    _, public = req.requestJsonAndCheck("GET", "/users/alice/keys")
    assert public == [{"id": k1["id"], "key": "ssh-ed25519 AAAA1"}, {"id": k2["id"], "key": "ssh-ed25519 AAAA2"}]
    _, everything = req.requestJsonAndCheck("GET", "/admin/keys", parameters={"per_page": 100})
    assert [k["id"] for k in everything] == [k3["id"], k2["id"], k1["id"]]
    alice_id = sb.store.user("alice")["id"]  # type: ignore[index]
    assert everything[2] | {"url": None} == {
        "id": k1["id"],
        "key": "ssh-ed25519 AAAA1",
        "user_id": alice_id,
        "repository_id": None,
        "url": None,
        "title": "laptop",
        "read_only": False,
        "verified": True,
        "created_at": iso(T0),
        "last_used": None,
    }
    status, _, _ = req.requestJson("DELETE", f"/admin/keys/{k1['id']}")
    assert status == 204
    assert [k["id"] for k in sb.store.ssh_keys("alice")] == [k2["id"]]
    with pytest.raises(UnknownObjectException):
        req.requestJsonAndCheck("DELETE", f"/admin/keys/{k1['id']}")


def test_org_members_and_membership_removal(sb: Sandbox, g: Github) -> None:
    seed_people(sb.store)
    org = g.get_organization("acme")
    assert [m.login for m in org.get_members()] == ["alice", "bob", "carol"]
    assert [m.login for m in org.get_members(role="admin")] == ["alice"]
    bob, carol = g.get_user("bob"), g.get_user("carol")
    membership = bob.get_organization_membership("acme")
    assert membership.role == "member" and membership.state == "active"
    org.remove_from_membership(bob)
    assert not org.has_in_members(bob)
    org.remove_from_members(carol)
    assert sb.store.members("acme") == {"alice": "admin"}
    with pytest.raises(UnknownObjectException):
        org.remove_from_membership(bob)
    with pytest.raises(UnknownObjectException):
        g.get_organization("no-such-org")


# -- transport: auth, Link, rate limits, errors, faults --------------------------------------------------
def test_bad_token_is_401(sb: Sandbox) -> None:
    sb.store.add_user("alice")
    with pytest.raises(BadCredentialsException):
        sb.client("not-a-token").get_user("alice")
    response = requests.get(sb.api + "/users/alice", timeout=5)
    assert response.status_code == 401 and response.json()["message"] == "Bad credentials"
    assert [r.status for r in sb.server.requests] == [401, 401]


def test_link_header_is_built_from_host_and_keeps_query(sb: Sandbox) -> None:
    seed_timeline(sb.store)
    host = f"localhost:{sb.server.port}"
    response = requests.get(
        sb.api + "/repos/acme/app/releases?per_page=2&page=2&extra=x%20y",
        headers={"Authorization": f"Bearer {TOKEN}", "Host": host},
        timeout=5,
    )
    assert response.status_code == 200 and len(response.json()) == 2
    rels = links({"link": response.headers["Link"]})
    assert set(rels) == {"prev", "next", "last", "first"}
    for url in rels.values():
        assert url.startswith(f"http://{host}/api/v3/repos/acme/app/releases?")
    assert parse_qs(urlsplit(rels["next"]).query) == {"per_page": ["2"], "page": ["3"], "extra": ["x y"]}
    assert parse_qs(urlsplit(rels["last"]).query)["page"] == ["3"]
    assert parse_qs(urlsplit(rels["first"]).query)["page"] == ["1"]
    assert response.json()[0]["url"].startswith(f"http://{host}/api/v3/repos/acme/app/releases/")


def test_rate_limit_headers_and_pygithub_rate_limiting(sb: Sandbox, g: Github) -> None:
    seed_timeline(sb.store)
    auth = {"Authorization": f"token {TOKEN}"}
    first = requests.get(sb.api + "/repos/acme/app", headers=auth, timeout=5).headers
    second = requests.get(sb.api + "/repos/acme/app/nope", headers=auth, timeout=5)
    assert second.status_code == 404
    assert second.json() == {
        "message": "Not Found",
        "documentation_url": second.json()["documentation_url"],
        "status": "404",
    }
    for name in ("x-ratelimit-limit", "x-ratelimit-used", "x-ratelimit-reset", "x-github-request-id"):
        assert name in first and name in second.headers
    assert first["x-ratelimit-resource"] == "core"
    assert int(second.headers["x-ratelimit-remaining"]) == int(first["x-ratelimit-remaining"]) - 1
    assert first["x-github-request-id"] != second.headers["x-github-request-id"]
    g.get_repo("acme/app")
    remaining, limit = g.rate_limiting
    assert limit == 5000 and 0 < remaining < 5000
    assert g.rate_limiting_resettime > 0
    overview = g.get_rate_limit()
    assert overview.resources.core.limit == 5000


def test_throttled_listing_still_completes_and_log_shows_403_then_429(sb: Sandbox) -> None:
    # seed 22 draws ".TT.....": repo ok, releases page 1 -> 403 secondary, retry -> 429, retry -> 200, ...
    seed_timeline(sb.store)
    sb.server.set_faults(FaultPlan(throttle=0.34, seed=22, retry_after=1))
    releases = list(sb.client().get_repo("acme/app").get_releases())
    assert [r.tag_name for r in releases] == [f"v0.0.{i}" for i in range(4, -1, -1)]
    log = sb.server.requests
    assert [(r.status, r.fault) for r in log[:4]] == [(200, None), (403, "throttle"), (429, "throttle"), (200, None)]
    assert log[1].path == log[2].path == log[3].path == "/api/v3/repos/acme/app/releases"
    assert [r.status for r in log[3:]] == [200, 200, 200]


def test_throttle_and_server_error_bodies(sb: Sandbox) -> None:
    sb.server.set_faults(FaultPlan(throttle=1.0, retry_after=7))
    auth = {"Authorization": f"token {TOKEN}"}
    first = requests.get(sb.api + "/user", headers=auth, timeout=5)
    second = requests.get(sb.api + "/user", headers=auth, timeout=5)
    assert (first.status_code, second.status_code) == (403, 429)
    for response in (first, second):
        assert response.headers["retry-after"] == "7"
        assert response.json()["message"].startswith("You have exceeded a secondary rate limit")
        assert "x-ratelimit-remaining" in response.headers
    sb.server.set_faults(FaultPlan(server_error=1.0, error_status=502))
    third = requests.get(sb.api + "/user", headers=auth, timeout=5)
    assert third.status_code == 502 and third.json() == {"message": "Server Error"}


def test_server_errors_are_retried_by_pygithub(sb: Sandbox) -> None:
    seed_timeline(sb.store)
    sb.server.set_faults(FaultPlan(server_error=0.3, seed=3))
    assert len(list(sb.client().get_repo("acme/app").get_tags())) == 5
    statuses = [r.status for r in sb.server.requests]
    assert 500 in statuses and statuses[-1] == 200


def test_truncated_page_is_short_and_has_no_next_link(sb: Sandbox) -> None:
    seed_timeline(sb.store)
    sb.server.set_faults(FaultPlan(truncate=1.0, path_regex="/tags$"))
    response = requests.get(
        sb.api + "/repos/acme/app/tags?per_page=4", headers={"Authorization": f"token {TOKEN}"}, timeout=5
    )
    assert response.status_code == 200 and len(response.json()) == 2
    assert "next" not in links({"link": response.headers.get("Link", "")})
    assert sb.server.requests[-1].fault == "truncate"


def test_errors_and_seed_validation(sb: Sandbox, g: Github) -> None:
    seed_timeline(sb.store)
    with pytest.raises(UnknownObjectException):
        g.get_repo("acme/missing")
    with pytest.raises(GithubException) as info:
        g.requester.requestJsonAndCheck("GET", "/repos/acme/app/commits/deadbeefcafe")
    assert info.value.status == 422
    with pytest.raises(UnknownObjectException):
        g.requester.requestJsonAndCheck("GET", "/no/such/route")
    with pytest.raises(GithubSeedError):
        sb.store.add_user("mona.lisa")
    with pytest.raises(GithubSeedError):
        sb.store.add_tag("acme/app", "v0.0.1", date=T0)
    with pytest.raises(GithubSeedError):
        sb.store.add_member("acme", "ghost-user")
    sb.store.clear()
    assert sb.store.user("alice") is None
    with pytest.raises(UnknownObjectException):
        g.get_repo("acme/app")


def test_list_users_pages_with_since() -> None:
    """GHES `GET /users` pages by user id (`since`), not by page number."""
    store = GithubStore()
    for i in range(7):
        store.add_user(f"user-{i}")
    emulator, server = start_github(tokens={"t"})
    emulator.store = store
    try:
        g = Github(auth=Auth.Token("t"), base_url=server.url + "/api/v3", per_page=3, seconds_between_requests=0)
        logins = [u.login for u in g.get_users()]
        assert [f"user-{i}" for i in range(7)] == [x for x in logins if x.startswith("user-")]
        pages = [r for r in server.requests if r.path == "/api/v3/users"]
        assert len(pages) >= 3 and any("since=" in r.query for r in pages)
    finally:
        server.stop()
