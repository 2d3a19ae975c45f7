"""The GitHub emulator's App routes and token checks, driven by PyGithub's own App flow over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from github import Auth, BadCredentialsException, Github, GithubException, GithubIntegration

from custodian.sandbox.github import GithubEmulator, start_github
from custodian.sandbox.github_apps import generate_key_pair, provision_app_keys
from custodian.sandbox.github_auth import EXP_MESSAGE, EXP_TOO_FAR, IAT_MESSAGE, JWT_UNDECODABLE, NOT_ACCESSIBLE
from custodian.sandbox.github_store import GithubSeedError, GithubStore
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.scenario import parse_scenario, seed_all
from custodian.sandbox.scenario_seed import SeedSummary

APP_ID = 7
INSTALLATION = 51001
PERMISSIONS = {"members": "read", "contents": "read", "deployments": "read", "metadata": "read"}
KEYS = generate_key_pair()  # (private PEM, public PEM), made once for the module
OTHER_KEYS = generate_key_pair()


@dataclass
class Sandbox:
    emulator: GithubEmulator
    server: EmulatorServer

    @property
    def store(self) -> GithubStore:
        return self.emulator.store

    @property
    def api(self) -> str:
        return self.server.url + "/api/v3"

    def options(self) -> dict[str, Any]:
        return {"base_url": self.api, "seconds_between_requests": 0, "seconds_between_writes": 0}

    def integration(self, key: str = KEYS[0], app_id: int = APP_ID) -> GithubIntegration:
        return GithubIntegration(auth=Auth.AppAuth(app_id, key), **self.options())

    def installation_client(self) -> Github:
        return Github(auth=Auth.AppAuth(APP_ID, KEYS[0]).get_installation_auth(INSTALLATION), **self.options())

    def call(self, method: str, path: str, credential: str, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {credential}"}
        return requests.request(method, self.api + path, headers=headers, json=body, timeout=10)

    def exchanges(self) -> list[int]:
        return [r.status for r in self.server.requests if r.path.endswith("/access_tokens")]


@pytest.fixture(scope="module")
def shared() -> Iterator[Sandbox]:
    emulator, server = start_github(tokens={"classic-token"})
    try:
        yield Sandbox(emulator, server)
    finally:
        server.stop()


@pytest.fixture
def sb(shared: Sandbox) -> Sandbox:
    """An org `acme` (repo, member) with App 7 installed on it; other org `globex`; fresh log and clocks."""
    store = shared.store
    store.clear()
    shared.emulator.installation_token_lifetime_s = 3600.0
    shared.emulator.wall_clock = time.time
    shared.server.clear_log()
    store.add_org("acme")
    store.add_org("globex")
    store.add_repo("acme/product")
    store.add_repo("globex/tool")
    store.add_user("bob")
    store.add_member("acme", "bob")
    store.add_app(APP_ID, slug="release-custodian", owner="acme", public_key=KEYS[1], permissions=PERMISSIONS)
    store.add_installation(APP_ID, INSTALLATION, account="acme")
    return shared


def signed(claims: dict[str, Any], key: str = KEYS[0], algorithm: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def test_pygithub_app_flow_lists_installations_and_exchanges_a_token(sb: Sandbox) -> None:
    integration = sb.integration()
    app = integration.get_app()
    assert (app.id, app.slug, app.owner.login) == (APP_ID, "release-custodian", "acme")
    installations = list(integration.get_installations())
    assert [(i.id, i.raw_data["account"]["login"], i.target_type) for i in installations] == [
        (INSTALLATION, "acme", "Organization")
    ]
    assert integration.get_org_installation("acme").id == INSTALLATION
    assert integration.get_repo_installation("acme", "product").id == INSTALLATION
    assert integration.get_app_installation(INSTALLATION).permissions == PERMISSIONS

    started = time.time()
    grant = integration.get_access_token(INSTALLATION)
    assert grant.token.startswith("ghs_")
    assert 3590 <= grant.expires_at.timestamp() - started <= 3601  # GitHub's one hour
    assert grant.permissions == PERMISSIONS

    github = sb.installation_client()
    assert [m.login for m in github.get_organization("acme").get_members()] == ["bob"]
    assert github.get_repo("acme/product").get_deployments().totalCount == 0
    assert sb.exchanges() == [201, 201]  # get_access_token, then the installation client's own
    assert all(r.status < 400 for r in sb.server.requests)


def test_pygithub_refreshes_the_installation_token_before_it_expires(sb: Sandbox) -> None:
    # PyGithub exchanges again once a token is within 20 s of expiry: a 21 s token lasts 0-1 s
    sb.emulator.installation_token_lifetime_s = 21
    org = sb.installation_client().get_organization("acme")
    assert [m.login for m in org.get_members()] == ["bob"]
    time.sleep(1.1)
    assert [m.login for m in org.get_members()] == ["bob"]
    # at least one exchange more than the first (a loaded machine may take >1 s between calls: more)
    exchanges = sb.exchanges()
    assert len(exchanges) >= 2 and set(exchanges) == {201}
    assert len(sb.store.installation_tokens) == len(exchanges)
    assert all(r.status < 400 for r in sb.server.requests)


def test_an_expired_installation_token_gets_githubs_401(sb: Sandbox) -> None:
    token = sb.integration().get_access_token(INSTALLATION).token
    assert sb.call("GET", "/orgs/acme/members", token).status_code == 200
    sb.emulator.wall_clock = lambda: time.time() + 3601
    answer = sb.call("GET", "/orgs/acme/members", token)
    assert answer.status_code == 401
    body = answer.json()
    assert body["message"] == "Bad credentials" and body["documentation_url"].startswith("https://docs.github.com/")
    with pytest.raises(BadCredentialsException):
        Github(auth=Auth.Token(token), **sb.options()).get_organization("acme").get_members().totalCount  # noqa: B018


def hs256_with_the_public_key(claims: dict[str, Any]) -> str:
    """The classic algorithm-confusion forgery (PyJWT refuses to make it, so it is made by hand)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + part(json.dumps(claims).encode())
    return head + "." + part(hmac.new(KEYS[1].encode(), head.encode(), hashlib.sha256).digest())


def now_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iat": now - 60, "exp": now + 300, "iss": str(APP_ID), **changes}


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        (lambda: signed(now_claims(), key=OTHER_KEYS[0]), JWT_UNDECODABLE),  # another key
        (lambda: signed(now_claims(iss="999")), "Integration not found"),
        (lambda: signed(now_claims(exp=int(time.time()) + 1200)), EXP_TOO_FAR),
        (lambda: signed(now_claims(iat=int(time.time()) - 900, exp=int(time.time()) - 300)), EXP_MESSAGE),
        (lambda: signed(now_claims(iat=int(time.time()) + 300, exp=int(time.time()) + 500)), IAT_MESSAGE),
        (lambda: hs256_with_the_public_key(now_claims()), JWT_UNDECODABLE),  # algorithm confusion
        (lambda: jwt.encode(now_claims(), None, algorithm="none"), JWT_UNDECODABLE),
        (lambda: "eyJhbGciOi.broken.jwt", JWT_UNDECODABLE),
    ],
    ids=["wrong-key", "unknown-app", "exp-too-far", "expired", "iat-future", "hs256", "alg-none", "garbage"],
)
def test_bad_jwts_are_refused_with_githubs_messages(sb: Sandbox, credential: Any, message: str) -> None:
    answer = sb.call("POST", f"/app/installations/{INSTALLATION}/access_tokens", credential(), {})
    assert (answer.status_code, answer.json()["message"]) == (401, message)
    assert not sb.store.installation_tokens


def test_pygithub_with_the_wrong_key_gets_401_and_no_token(sb: Sandbox) -> None:
    with pytest.raises(GithubException, match="could not be decoded") as info:
        sb.integration(key=OTHER_KEYS[0]).get_access_token(INSTALLATION)
    assert info.value.status == 401
    assert sb.exchanges() == [401]


def test_jwts_open_only_app_routes_and_tokens_never_open_them(sb: Sandbox) -> None:
    app_jwt = signed(now_claims())
    assert sb.call("GET", "/orgs/acme/members", app_jwt).status_code == 403
    token = sb.call("POST", f"/app/installations/{INSTALLATION}/access_tokens", app_jwt, {}).json()["token"]
    for credential in (token, "classic-token"):
        answer = sb.call("GET", "/app/installations", credential)
        assert (answer.status_code, answer.json()["message"]) == (401, JWT_UNDECODABLE)
    assert sb.call("GET", "/app/installations/999", app_jwt).status_code == 404
    assert sb.call("POST", "/app/installations/999/access_tokens", app_jwt, {}).status_code == 404
    assert sb.call("GET", "/orgs/globex/installation", app_jwt).status_code == 404


def test_installation_tokens_reach_their_account_with_their_permissions_only(sb: Sandbox) -> None:
    app_jwt = signed(now_claims())
    token = sb.call("POST", f"/app/installations/{INSTALLATION}/access_tokens", app_jwt, {}).json()["token"]
    allowed = [("GET", "/orgs/acme/members"), ("GET", "/repos/acme/product/tags"), ("GET", "/users/bob")]
    for method, path in allowed:
        assert sb.call(method, path, token).status_code == 200, path
    refused = {
        ("DELETE", "/orgs/acme/memberships/bob"): 403,  # members: read only
        ("GET", "/orgs/acme/personal-access-tokens"): 403,  # no PAT-grant permission
        ("GET", "/orgs/globex/members"): 403,  # another organization
        ("GET", "/repos/globex/tool/tags"): 404,  # another owner's repository
        ("GET", "/user"): 403,
        ("GET", "/admin/keys"): 403,
    }
    for (method, path), status in refused.items():
        answer = sb.call(method, path, token)
        assert (answer.status_code, answer.json()["message"] if status == 403 else "") == (
            status,
            NOT_ACCESSIBLE if status == 403 else "",
        ), path
    assert "bob" in sb.store.members("acme")

    narrowed = sb.call(
        "POST", f"/app/installations/{INSTALLATION}/access_tokens", app_jwt, {"permissions": {"contents": "read"}}
    ).json()
    assert narrowed["permissions"] == {"contents": "read"}
    assert sb.call("GET", "/orgs/acme/members", narrowed["token"]).status_code == 403
    wider = sb.call(
        "POST", f"/app/installations/{INSTALLATION}/access_tokens", app_jwt, {"permissions": {"members": "write"}}
    )
    assert wider.status_code == 422


def test_a_suspended_installation_gets_no_token(sb: Sandbox) -> None:
    sb.store.installations[INSTALLATION].suspended_at = sb.emulator.clock.now()
    answer = sb.call("POST", f"/app/installations/{INSTALLATION}/access_tokens", signed(now_claims()), {})
    assert answer.status_code == 403


SCENARIO = """
github:
  orgs: [acme]
  apps:
    - id: 424242
      slug: release-custodian
      permissions: {members: write, metadata: read}
      installations:
        - {id: 51001, account: acme}
        - {id: 51002, account: acme-dev, permissions: {members: read}}
  users:
    - {login: acme-dev}
"""


def test_scenario_apps_seed_and_the_sandbox_makes_their_keys(tmp_path: Path) -> None:
    scenario = parse_scenario(SCENARIO)
    store = GithubStore()
    summary: SeedSummary = seed_all(
        scenario, clock=_Clock(), arm_store=None, github_store=store, blob_connection_string=None
    )
    assert (summary["github_apps"], summary["app_installations"]) == (1, 2)
    assert store.find_app(424242) is not None and store.find_app(424242).public_key is None  # type: ignore[union-attr]
    assert store.installations[51002].permissions == {"members": "read"}
    assert store.installations[51001].permissions == {"members": "write", "metadata": "read"}

    written = provision_app_keys(store, tmp_path / "github")
    path = written[424242]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert path.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    claims = now_claims(iss="424242")
    credential = jwt.encode(claims, path.read_text(), algorithm="RS256")
    assert jwt.decode(credential, store.apps[424242].public_key, algorithms=["RS256"])["iss"] == "424242"
    assert provision_app_keys(store, tmp_path / "github") == {}  # keys are made once
    with pytest.raises(GithubSeedError, match="already installed"):
        store.add_installation(424242, 51003, account="acme")


class _Clock:
    def now(self) -> Any:
        from datetime import UTC, datetime

        return datetime.now(UTC)
