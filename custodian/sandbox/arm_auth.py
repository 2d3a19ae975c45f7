"""Who may call the ARM emulator: static bearer tokens and tokens the Entra emulator issued, unexpired.

`ArmAuth.check(request)` raises ARM's 401s, each with a `WWW-Authenticate: Bearer ...` challenge as ARM
sends it: `AuthenticationFailed` (no bearer token), `InvalidAuthenticationToken` (not a token of a
trusted issuer), `ExpiredAuthenticationToken` (issued here, past its `exp`, wall clock) and
`InvalidAuthenticationTokenAudience` (issued for another resource). Every check is logged in
`records` (which token, by its `uti` or `static`, on which path, with what outcome), so tests can
tell which token each request carried without the token itself being kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from custodian.sandbox.arm_resources import ArmError
from custodian.sandbox.entra import EntraEmulator, UnknownTokenError
from custodian.sandbox.httpserver import Request

__all__ = ["STATIC", "ArmAuth", "AuthRecord"]

STATIC = "static"
# ARM accepts tokens for either of its application id URIs (with or without the trailing slash).
PUBLIC_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")


@dataclass(frozen=True)
class AuthRecord:
    at: float
    method: str
    path: str
    token_id: str | None  # the token's `uti`, STATIC, or None when it was not recognised
    outcome: str  # "ok" or the ARM error code
    user_agent: str


class _Rejected(ArmError):
    def __init__(self, code: str, message: str, challenge: str, token_id: str | None) -> None:
        super().__init__(401, code, message, {"WWW-Authenticate": challenge})
        self.token_id = token_id


def _arm_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"{moment.month}/{moment.day}/{moment.year} {moment:%I:%M:%S %p}".replace(" 0", " ", 1)


class ArmAuth:
    """The ARM emulator's token check (see module docstring); `issuer` may be None (static tokens only)."""

    def __init__(
        self,
        static_tokens: Iterable[str] = (),
        issuer: EntraEmulator | None = None,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.static_tokens = set(static_tokens)
        self.issuer = issuer
        self.now = now
        self._records: list[AuthRecord] = []
        self._lock = threading.Lock()

    @property
    def records(self) -> list[AuthRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def check(self, request: Request) -> None:
        """Return when the request carries an acceptable token; raise ARM's 401 otherwise (logged either way)."""
        try:
            token_id = self._check(request)
        except _Rejected as exc:
            self._record(request, exc.token_id, exc.code)
            raise
        self._record(request, token_id, "ok")

    def _record(self, request: Request, token_id: str | None, outcome: str) -> None:
        record = AuthRecord(
            self.now(), request.method, request.path, token_id, outcome, request.header("User-Agent") or ""
        )
        with self._lock:
            self._records.append(record)

    def _check(self, request: Request) -> str:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self._error(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                "The authentication failed because of missing 'Authorization' header.",
            )
        if token in self.static_tokens:
            return STATIC
        if self.issuer is None:
            raise self._invalid()
        try:
            issued = self.issuer.verify(token)
        except UnknownTokenError:
            raise self._invalid() from None
        now = self.now()
        if now >= issued.expires_at:
            raise self._error(
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{_arm_time(issued.expires_at)}' is earlier than current UTC time "
                f"'{_arm_time(now)}'.",
                "The access token has expired.",
                issued.token_id,
            )
        allowed = {request.base_url.lower(), *PUBLIC_AUDIENCES}
        if issued.audience.rstrip("/").lower() not in allowed:
            raise self._error(
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{issued.audience}'. It should "
                f"exactly match with one of the allowed audiences '{request.base_url}/', '{request.base_url}', "
                + ", ".join(f"'{a}/', '{a}'" for a in PUBLIC_AUDIENCES)
                + ".",
                "The access token has been obtained for wrong audience or resource.",
                issued.token_id,
            )
        return issued.token_id

    def _invalid(self) -> _Rejected:
        return self._error("InvalidAuthenticationToken", "The access token is invalid.", "The access token is invalid.")

    def _error(self, code: str, message: str, description: str, token_id: str | None = None) -> _Rejected:
        authority = "https://login.windows.net/"
        if self.issuer is not None and self.issuer.server is not None:
            authority = f"{self.issuer.server.url}/{self.issuer.tenant_id}"
        challenge = f'Bearer authorization_uri="{authority}", error="invalid_token", error_description="{description}"'
        return _Rejected(code, message, challenge, token_id)
