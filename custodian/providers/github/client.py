"""Building PyGithub clients: base URL, auth, paging size, retries, read-only guard, call counting.

PyGithub chooses its connection class per `Requester`; `GithubSession` swaps in subclasses that
refuse mutating methods (audit) and count every request, so read-only holds on the wire.

Auth is a token (`Auth.Token`), or a GitHub App (`app_auth.InstallationAuth`, PyGithub's own
refreshing installation auth): its token exchange runs on a requester of its own, which gets the
same counting connection class, letting through only GET and that exchange's POST.

Every answer's `x-ratelimit-*` headers feed the session's `RateBudget` (`budget`, per resource: a
GraphQL POST is checked against the `graphql` budget): once nothing is left, requests are refused
at once rather than slept through, and PyGithub's retry never waits
longer than `max_rate_limit_wait_s` for a primary limit (a longer wait raises, and the scope becomes
a COLLECT error). With a `GithubCache` set (`cache`), `get_json` and `paged` are conditional
requests (`If-None-Match`), a 304 answered from the stored body (see `custodian.providers.github.cache`).

GraphQL (`settings.api == "graphql"`, see `custodian.providers.github.graphql`) is a POST to the
requester's GraphQL URL; a read-only session lets it through only when the document holds queries
alone (`graphql_read_only`: no `mutation` or `subscription` operation), so read-only still holds.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from github import Auth, Github, GithubRetry
from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester

from custodian.providers.github.app_auth import Exempt, GithubAppCredentials, InstallationAuth
from custodian.providers.github.budget import RateBudget
from custodian.providers.github.cache import GithubCache
from custodian.providers.paging import PageGuard
from custodian.providers.wire import CallCounter, ReadOnlyViolation, check_method


@dataclass(frozen=True)
class GithubSettings:
    base_url: str
    token: str
    org: str
    per_page: int = 100
    read_only: bool = True
    enterprise: bool = False  # GitHub Enterprise Server (site-admin API) rather than a github.com organization
    timeout_s: int = 30
    retries: int = 6  # per call (PyGithub's GithubRetry); `config validate --check-connections` uses 0
    max_rate_limit_wait_s: int = 60  # longest sleep for a primary rate limit's reset; a longer one fails fast
    secondary_rate_wait_s: float = 60.0
    app: GithubAppCredentials | None = None  # authenticate as this GitHub App (then `token` is "")
    api: str = "graphql"  # the release timeline through GraphQL (batched) or "rest"

    def __post_init__(self) -> None:
        if bool(self.token) == (self.app is not None):
            raise ValueError("GithubSettings needs exactly one of a token or GitHub App credentials")


def _guarded(
    base: type[Any], read_only: bool, counter: CallCounter, exempt: Exempt | None, budget: RateBudget | None
) -> type[Any]:
    class Guarded(base):  # type: ignore[misc]
        def request(self, verb: str, url: str, input: Any, headers: dict[str, str], stream: bool = False) -> None:  # noqa: A002
            graphql = verb.upper() == "POST" and url.split("?")[0].endswith("/graphql")
            if graphql and read_only and not graphql_read_only(input):
                raise ReadOnlyViolation(verb, f"{url} (not a read-only GraphQL query)")
            if not graphql and (exempt is None or not exempt(verb, url)):
                check_method(verb, url, read_only)
            if budget is not None:
                budget.check("graphql" if graphql else "core")  # nothing left: refused here, never slept through
            counter.add("github", "GRAPHQL" if graphql else verb)  # a read, though a POST on the wire
            super().request(verb, url, input, headers, stream)

        def getresponse(self) -> Any:
            response = super().getresponse()
            if budget is not None:
                budget.observe(response.status, dict(response.getheaders()))
            return response

    Guarded.__name__ = f"{'ReadOnly' if read_only else 'Counted'}{base.__name__}"
    return Guarded


def install_guard(
    requester: Requester,
    read_only: bool,
    counter: CallCounter,
    exempt: Exempt | None = None,
    budget: RateBudget | None = None,
) -> None:
    """Make every request of `requester` go through the guarded, counting (and budgeted) connection class."""
    attribute = "_Requester__connectionClass"
    if not hasattr(requester, attribute):  # fail closed if PyGithub's internals move
        raise RuntimeError("cannot install the read-only guard on this PyGithub version")
    base = HTTPSRequestsConnectionClass if requester.scheme == "https" else HTTPRequestsConnectionClass
    setattr(requester, attribute, _guarded(base, read_only, counter, exempt, budget))


class GithubSession:
    """A PyGithub client bound to one base URL and token, read-only unless built for enforce."""

    def __init__(self, settings: GithubSettings, counter: CallCounter) -> None:
        self.settings = settings
        self.counter = counter
        self.budget = RateBudget()
        self.cache: GithubCache | None = None  # set by a run with a ledger: conditional reads
        retry = GithubRetry(
            total=settings.retries,
            secondary_rate_wait=settings.secondary_rate_wait_s,
            max_rate_limit_wait=max(settings.max_rate_limit_wait_s, settings.secondary_rate_wait_s),
        )
        auth: Auth.Auth
        if settings.app is None:
            auth = Auth.Token(settings.token)
        else:  # the exchange's own requester: GET and the exchange POST only, even when applying
            auth = InstallationAuth(
                settings.app,
                base_url=settings.base_url,
                org=settings.org,
                guard=lambda requester, exempt: install_guard(requester, True, counter, exempt, self.budget),
            )
        self.github = Github(
            auth=auth,
            base_url=settings.base_url,
            per_page=settings.per_page,
            timeout=settings.timeout_s,
            retry=retry,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )
        install_guard(self.github.requester, settings.read_only, counter, budget=self.budget)

    @property
    def requester(self) -> Requester:
        return self.github.requester

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        _, data = self._get(path, params)
        return data

    def _get(self, url: str, params: dict[str, Any] | None) -> tuple[dict[str, Any], Any]:
        """A GET, conditional when a cache is set: a 304 answers the body stored with the ETag sent."""
        cache = self.cache
        if cache is None:
            return self.requester.requestJsonAndCheck("GET", url, parameters=params)
        key = cache.url_key(url, params)
        cached = cache.etag(key)
        headers = {"If-None-Match": cached.etag} if cached is not None else None
        status, answer_headers, text = self.requester.requestJson("GET", url, params, headers)
        if status == 304 and cached is not None:
            cache.not_modified += 1
            return {**answer_headers, "link": cached.link}, copy.deepcopy(cached.data)
        parsed = True
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data, parsed = {"message": text[:500]}, False  # a page that is not JSON (a proxy's, say)
        if status >= 400 or status == 304:
            raise self.requester.createException(
                status, answer_headers, data if isinstance(data, dict) else {"message": text}
            )
        etag = answer_headers.get("etag")
        if status == 200 and etag and parsed and data is not None:
            cache.store_answer(key, str(etag), copy.deepcopy(data), str(answer_headers.get("link", "")))
        return answer_headers, data

    def paged(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Follow `Link: rel="next"` pages of a raw list endpoint, yielding items as they come."""
        query: dict[str, Any] | None = {"per_page": self.settings.per_page, **(params or {})}
        guard = PageGuard(f"GET {path}")  # a next link already followed, or too many pages: PagingError
        url = path
        while url:
            headers, data = self._get(url, query)
            if not isinstance(data, list):
                raise ValueError(f"GET {path}: expected a JSON list, got {type(data).__name__}")
            yield from data
            url = _next_link(headers.get("link", ""))
            if url:
                guard.follow(url)
            query = None  # the next link carries the query

    def read_rate_limit(self) -> None:
        """`GET /rate_limit` (GitHub does not count it): the budget learns what is left before any read."""
        self.requester.requestJsonAndCheck("GET", "/rate_limit")
        self.budget.not_counted()

    def status(self, method: str, path: str) -> int:
        """The status code of a call whose answer is only a status (e.g. 204/404 membership checks)."""
        status, _, _ = self.requester.requestJson(method, path)
        return status

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A mutating raw call (refused by the guard in read-only sessions); returns (status, data)."""
        status, _, text = self.requester.requestJson(method, path, input=body)
        if status >= 400:
            raise GithubCallError(method, path, status, text)
        return status, text

    def close(self) -> None:
        self.github.close()


class GithubCallError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {body[:200]}")
        self.status = status


def _next_link(header: str) -> str:
    for part in header.split(","):
        section = part.split(";")
        if len(section) >= 2 and any(s.strip() == 'rel="next"' for s in section[1:]):
            return section[0].strip().strip("<>")
    return ""


_GRAPHQL_IGNORED = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*')


def graphql_read_only(body: Any) -> bool:
    """Whether a GraphQL request body (JSON text or dict) holds only query operations.

    Strings and comments are removed first; every top-level definition must then be a `query`,
    a `fragment`, or an anonymous `{ ... }` query: a `mutation` or `subscription` (or anything
    that does not parse as a JSON body with a string `query`) is not read-only."""
    try:
        payload = json.loads(body) if isinstance(body, str | bytes) else body
    except ValueError:
        return False
    query = payload.get("query") if isinstance(payload, dict) else None
    if not isinstance(query, str):
        return False
    text = _GRAPHQL_IGNORED.sub(" ", query)
    depth, at_top = 0, True
    for token in re.finditer(r"[{}()]|[_A-Za-z][_0-9A-Za-z]*", text):
        word = token.group()
        if word in "{(":
            if at_top and word == "{" and depth == 0:
                at_top = False  # an anonymous query's selection set
            depth += 1
        elif word in "})":
            depth -= 1
            at_top = depth == 0
        elif depth == 0 and at_top:
            if word not in ("query", "fragment"):
                return False
            at_top = False
    return depth == 0
