"""The Microsoft Entra ID emulator: OIDC metadata, signing keys and the OAuth 2.0 token endpoint.

What azure-identity (MSAL) asks for when pointed at it with `authority=` and
`disable_instance_discovery=True`: `GET /{tenant}/v2.0/.well-known/openid-configuration`, then
`POST /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials` and `scope=<resource>/.default`,
authenticated by a `client_secret` (form or HTTP Basic) or a `client_assertion`: a JWT from a trusted
federated issuer (workload identity: a Kubernetes service-account token read from a file), matched
on issuer, subject and audience like a federated identity credential. Tokens are RS256 JWTs in the
v1 shape ARM accepts (`aud`, `tid`, `appid`, `uti`...), short-lived (`token_lifetime_s`, wall clock),
and every one issued is in `issued`. Errors are Entra's OAuth bodies (`invalid_client`, an AADSTS
code in `error_description`, `error_codes`, trace and correlation ids). `verify` is what the ARM
emulator asks: was this token issued here (signature and record), and what does it say. The keys
(the signing key, the stand-in federated issuer) are in `entra_keys`.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt

from custodian.sandbox.entra_keys import FEDERATED_AUDIENCE, WORKLOAD_SUBJECT, FederatedIssuer, SigningKey
from custodian.sandbox.entra_msi import PATH as MSI_PATH
from custodian.sandbox.entra_msi import ManagedIdentities, serve_managed_identity
from custodian.sandbox.faults import FaultKind, FaultPlan
from custodian.sandbox.httpserver import EmulatorServer, Request, Response, json_response
from custodian.sandbox.tls import SandboxTLS

__all__ = [
    "FEDERATED_AUDIENCE",
    "WORKLOAD_SUBJECT",
    "EntraEmulator",
    "FederatedIssuer",
    "IssuedToken",
    "SigningKey",
    "UnknownTokenError",
    "start_entra",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class FederatedCredential:
    issuer: str
    subject: str
    audiences: tuple[str, ...] = (FEDERATED_AUDIENCE,)


@dataclass
class App:
    """An app registration (its service principal in the tenant): secrets and federated credentials."""

    client_id: str
    object_id: str
    secrets: set[str] = field(default_factory=set)
    federated: list[FederatedCredential] = field(default_factory=list)


@dataclass(frozen=True)
class IssuedToken:
    """One access token the token endpoint issued (the token itself is not kept here)."""

    token_id: str  # the `uti` claim
    tenant_id: str
    client_id: str
    audience: str
    method: str  # client_secret | federated
    issued_at: float
    expires_at: float


class UnknownTokenError(Exception):
    """The token was not issued by this emulator (malformed, foreign signature or unknown id)."""


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"{error}: AADSTS{code}: {description}")
        self.status, self.error, self.code, self.description = status, error, code, description


class EntraEmulator:
    """One tenant, its apps, a token endpoint and a log of what was issued (see module docstring)."""

    def __init__(
        self,
        tenant_id: str | None = None,
        *,
        token_lifetime_s: int = 3600,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.token_lifetime_s = token_lifetime_s
        self.now = now
        self.key = SigningKey()
        self.federated_issuer = FederatedIssuer()
        self.apps: dict[str, App] = {}
        self.managed = ManagedIdentities()  # the App Service style endpoint (`entra_msi`)
        self.server: EmulatorServer | None = None
        self._issued: dict[str, IssuedToken] = {}
        self._lock = threading.Lock()

    # -- the directory -------------------------------------------------------------------------
    def add_app(self, client_id: str | None = None, *, secret: str | None = None, workload: bool = True) -> App:
        """Register an app with a client secret and (`workload`) the sandbox's federated credential."""
        app = App(client_id or str(uuid.uuid4()), str(uuid.uuid4()))
        if secret:
            app.secrets.add(secret)
        if workload:
            app.federated.append(FederatedCredential(self.federated_issuer.url, WORKLOAD_SUBJECT))
        self.apps[app.client_id.lower()] = app
        return app

    def write_federated_token(self, path: Path, *, lifetime_s: int = 86400, subject: str = WORKLOAD_SUBJECT) -> Path:
        """Write a projected service-account token (what AKS mounts at AZURE_FEDERATED_TOKEN_FILE)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.federated_issuer.assertion(subject, lifetime_s=lifetime_s), encoding="utf-8")
        path.chmod(0o600)
        return path

    @property
    def issued(self) -> list[IssuedToken]:
        with self._lock:
            return sorted(self._issued.values(), key=lambda t: t.issued_at)

    def issue(self, client_id: str, audience: str, method: str = "client_secret") -> tuple[str, IssuedToken]:
        """Mint an access token for `audience` (the resource, without `/.default`) as the token endpoint does."""
        app = self.apps[client_id.lower()]
        now = self.now()
        record = IssuedToken(
            secrets.token_urlsafe(16), self.tenant_id, app.client_id, audience, method, now, now + self.token_lifetime_s
        )
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": int(now),
            "nbf": int(now),
            "exp": int(record.expires_at),
            "appid": app.client_id,
            "appidacr": "1" if method == "client_secret" else "2",
            "idtyp": "app",
            "oid": app.object_id,
            "sub": app.object_id,
            "tid": self.tenant_id,
            "uti": record.token_id,
            "ver": "1.0",
        }
        token = self.key.sign(claims)
        with self._lock:
            self._issued[record.token_id] = record
        return token, record

    def verify(self, token: str) -> IssuedToken:
        """The record of a token this emulator issued; `UnknownTokenError` for anything else."""
        try:
            claims = self.key.verify(token)
        except jwt.PyJWTError as exc:
            raise UnknownTokenError(str(exc)) from exc
        with self._lock:
            record = self._issued.get(str(claims.get("uti", "")))
        if record is None:
            raise UnknownTokenError("no token with this id was issued")
        return record

    # -- Emulator protocol ---------------------------------------------------------------------
    def add_managed_identity(self, *, system: bool = False) -> App:
        """A managed identity (system-assigned, or user-assigned by its client id) the MSI endpoint serves."""
        app = self.add_app(workload=False)
        if system:
            self.managed.system = app.client_id.lower()
        else:
            self.managed.user_assigned.add(app.client_id.lower())
        return app

    def handle(self, request: Request) -> Response:
        if request.path.rstrip("/") == MSI_PATH:
            return serve_managed_identity(self, self.managed, request)
        segs = [unquote(s) for s in request.path.split("/") if s]
        low = [s.lower() for s in segs]
        try:
            if len(low) >= 2 and low[0] != self.tenant_id.lower():
                raise _OAuthError(400, "invalid_tenant", 90002, self._tenant_not_found(segs[0]))
            if low[1:] == ["v2.0", ".well-known", "openid-configuration"] and request.method == "GET":
                return json_response(200, self._metadata(request.base_url))
            if low[1:] == ["discovery", "v2.0", "keys"] and request.method == "GET":
                return json_response(200, {"keys": [self.key.jwk()]})
            if low[1:] == ["oauth2", "v2.0", "token"] and request.method == "POST":
                return self._token(request)
            raise _OAuthError(
                404, "invalid_request", 90010, f"The request is not supported: {request.method} {request.path}."
            )
        except _OAuthError as exc:
            return self._error(request, exc)

    def fault_response(self, kind: FaultKind, request: Request) -> Response:
        plan = self.server.faults.plan if self.server is not None else FaultPlan()
        if kind is FaultKind.THROTTLE:
            error = _OAuthError(429, "temporarily_unavailable", 90055, "There are too many incoming requests.")
            response = self._error(request, error)
            response.headers["Retry-After"] = str(plan.retry_after)
            return response
        return self._error(
            request,
            _OAuthError(plan.error_status, "temporarily_unavailable", 90033, "A transient error has occurred."),
        )

    # -- endpoints -------------------------------------------------------------------------------
    def _metadata(self, base_url: str) -> dict[str, Any]:
        tenant = f"{base_url}/{self.tenant_id}"
        return {
            "token_endpoint": f"{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{tenant}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{tenant}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "sandbox.invalid",
        }

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        basic = request.header("Authorization") or ""
        if basic.lower().startswith("basic "):
            user, _, password = base64.b64decode(basic[6:]).decode("utf-8", "replace").partition(":")
            client_id, secret = unquote(user), unquote(password)
        grant = form.get("grant_type", "")
        if not grant:
            raise _OAuthError(400, "invalid_request", 900144, _missing("grant_type"))
        if grant != "client_credentials":
            raise _OAuthError(
                400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
            )
        if not client_id:
            raise _OAuthError(400, "invalid_request", 900144, _missing("client_id"))
        app = self.apps.get(client_id.lower())
        if app is None:
            raise _OAuthError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{self.tenant_id}'. This "
                "can happen if the application has not been installed by the administrator of the tenant or consented "
                "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
            )
        scope = form.get("scope", "").strip()
        if not scope:
            raise _OAuthError(400, "invalid_request", 900144, _missing("scope"))
        if len(scope.split()) != 1 or not scope.endswith("/.default"):
            raise _OAuthError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
                "with /.default suffixed to the resource identifier (application ID URI).",
            )
        if secret is not None:
            method = self._check_secret(app, secret)
        elif "client_assertion" in form:
            method = self._check_assertion(app, form)
        else:
            raise _OAuthError(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
            )
        token, record = self.issue(app.client_id, scope.removesuffix("/.default"), method)
        lifetime = int(record.expires_at - record.issued_at)
        return json_response(
            200,
            {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token},
            {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )

    def _check_secret(self, app: App, secret: str) -> str:
        if not any(secrets.compare_digest(secret.encode(), known.encode()) for known in app.secrets):
            raise _OAuthError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{app.client_id}'.",
            )
        return "client_secret"

    def _check_assertion(self, app: App, form: Mapping[str, str]) -> str:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _OAuthError(
                400,
                "invalid_request",
                90014,
                "The required field 'client_assertion_type' is missing from the credential. Ensure that you have all "
                "the necessary parameters for the login request.",
            )
        assertion = form.get("client_assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _OAuthError(400, "invalid_request", 50027, "JWT token is invalid or malformed.") from exc
        issuer, subject = str(unverified.get("iss", "")), str(unverified.get("sub", ""))
        audiences = unverified.get("aud", [])
        audiences = [audiences] if isinstance(audiences, str) else [str(a) for a in audiences]
        by_issuer = [c for c in app.federated if c.issuer == issuer]
        if not by_issuer or issuer != self.federated_issuer.url:
            raise _no_federated_match(700211, "issuer", issuer)
        try:
            self.federated_issuer.key.verify(assertion)
        except jwt.PyJWTError as exc:
            raise _OAuthError(401, "invalid_client", 700027, "Client assertion failed signature validation.") from exc
        now, expiry = self.now(), float(unverified.get("exp", 0))
        if not float(unverified.get("nbf", 0)) - 300 <= now < expiry:
            raise _OAuthError(
                400,
                "invalid_client",
                700024,
                f"Client assertion is not within its valid time range. Current time: {_utc(now)}, expiry time of "
                f"assertion {_utc(expiry)}.",
            )
        by_subject = [c for c in by_issuer if c.subject == subject]
        if not by_subject:
            raise _no_federated_match(700213, "subject", subject)
        if not any(a in c.audiences for c in by_subject for a in audiences):
            raise _no_federated_match(700212, "audience", ", ".join(audiences))
        return "federated"

    # -- plumbing --------------------------------------------------------------------------------
    def _tenant_not_found(self, tenant: str) -> str:
        return (
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
            "correct cloud. Check with your subscription administrator, this may happen if there are no active "
            "subscriptions for the tenant."
        )

    def _error(self, request: Request, error: _OAuthError) -> Response:
        trace = str(uuid.uuid4())
        correlation = request.header("client-request-id") or str(uuid.uuid4())
        stamp = _utc(self.now())
        description = f"AADSTS{error.code}: {error.description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}"
        body = {
            "error": error.error,
            "error_description": f"{description}\r\nTimestamp: {stamp}",
            "error_codes": [error.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{request.base_url}/error?code={error.code}",
        }
        return json_response(error.status, body, {"Cache-Control": "no-store, no-cache"})


def _no_federated_match(code: int, what: str, value: str) -> _OAuthError:
    return _OAuthError(
        401,
        "invalid_client",
        code,
        f"No matching federated identity record found for presented assertion {what} '{value}'. Please check your "
        "federated identity credential Subject, Audience and Issuer against the presented assertion. "
        "https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
    )


def _missing(name: str) -> str:
    return f"The request body must contain the following parameter: '{name}'."


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch))


def start_entra(
    tls: SandboxTLS, *, faults: FaultPlan | None = None, token_lifetime_s: int = 3600, tenant_id: str | None = None
) -> tuple[EntraEmulator, EmulatorServer]:
    """Start the Entra emulator over HTTPS (127.0.0.1, free port); returns it and its running server."""
    emulator = EntraEmulator(tenant_id, token_lifetime_s=token_lifetime_s)
    server = EmulatorServer(emulator, faults=faults, ssl_context=tls.server_context(), name="entra")
    emulator.server = server
    server.start()
    return emulator, server
