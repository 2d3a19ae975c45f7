"""The managed-identity endpoint of the Entra ID emulator, as App Service and Container Apps serve it.

azure-identity's `ManagedIdentityCredential` uses it when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`
are set (App Service, Azure Functions, Container Apps): `GET <IDENTITY_ENDPOINT>?api-version=2019-08-01
&resource=<resource>[&client_id=<user-assigned identity>]` with the header `X-IDENTITY-HEADER`. The
answer is `{access_token, expires_on (epoch seconds, as a string), resource, token_type, client_id}`.
A wrong or missing header is 401; an unknown `client_id` (or no system-assigned identity) is 400, as
the platform answers. Tokens are issued by the emulator like any other (method `managed_identity`),
so ARM accepts them and `issued` shows them.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from custodian.sandbox.httpserver import Request, Response, json_response

if TYPE_CHECKING:
    from custodian.sandbox.entra import EntraEmulator

PATH = "/msi/token"
API_VERSION = "2019-08-01"


@dataclass
class ManagedIdentities:
    """The identities the endpoint serves: one system-assigned (optional) and user-assigned ones, by client id."""

    header: str = field(default_factory=lambda: secrets.token_hex(16))
    system: str | None = None
    user_assigned: set[str] = field(default_factory=set)

    def env(self, base_url: str) -> dict[str, str]:
        """What the platform sets in the process environment."""
        return {"IDENTITY_ENDPOINT": f"{base_url.rstrip('/')}{PATH}", "IDENTITY_HEADER": self.header}


def serve_managed_identity(entra: EntraEmulator, identities: ManagedIdentities, request: Request) -> Response:
    if request.method != "GET":
        return json_response(405, {"error": "method_not_allowed"})
    given = next((v for k, v in request.headers.items() if k.lower() == "x-identity-header"), "")
    if not given or not hmac.compare_digest(given, identities.header):
        return _error(401, "Unauthorized: X-IDENTITY-HEADER is missing or wrong")
    query = {k: v[0] for k, v in request.query.items() if v}
    if query.get("api-version") != API_VERSION or not query.get("resource"):
        return _error(400, f"api-version {API_VERSION} and resource are required")
    client_id = (query.get("client_id") or "").lower() or identities.system
    if client_id is None or (client_id != identities.system and client_id not in identities.user_assigned):
        return _error(400, "No managed identity found for the specified client id")
    token, record = entra.issue(client_id, query["resource"], method="managed_identity")
    body = {
        "access_token": token,
        "expires_on": str(int(record.expires_at)),
        "resource": query["resource"],
        "token_type": "Bearer",
        "client_id": record.client_id,
    }
    return json_response(200, body)


def _error(status: int, message: str) -> Response:
    return json_response(status, {"statusCode": status, "message": message})
