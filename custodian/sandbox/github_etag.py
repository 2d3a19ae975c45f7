"""Conditional requests in the GitHub emulator: strong ETags, `If-None-Match` and 304 Not Modified.

Like GitHub, every successful GET (200) carries an `ETag` (here a strong one: a hash of the body)
and `Vary`; a GET whose `If-None-Match` names that ETag (or `*`; weak `W/` forms compare equal, as
RFC 9110's weak comparison says) is answered `304 Not Modified` with no body, the ETag and the
rate-limit headers only. The emulator does not count a 304 against `x-ratelimit-remaining`
(`GithubEmulator._decorate`), as GitHub does not.
"""

from __future__ import annotations

import hashlib

from custodian.sandbox.httpserver import Request, Response

VARY = "Accept, Authorization, Cookie, X-GitHub-OTP"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest() + '"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def matches(header: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` header names `etag` (weak comparison) or is `*`."""
    if not header:
        return False
    wanted = _opaque(etag)
    return any(part.strip() == "*" or _opaque(part) == wanted for part in header.split(","))


def conditional(request: Request, response: Response) -> Response:
    """Put an ETag on a GET's 200 answer; a matching `If-None-Match` turns it into a bodiless 304."""
    if request.method not in ("GET", "HEAD") or response.status != 200:
        return response
    etag = etag_of(response.body)
    response.headers["ETag"] = etag
    response.headers["Vary"] = VARY
    if matches(request.header("If-None-Match"), etag):
        return Response(304, b"", {"ETag": etag, "Vary": VARY})
    return response
