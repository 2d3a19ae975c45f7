"""Keys of the Entra ID emulator: its token-signing key (a JWKS entry) and a stand-in federated issuer.

Both sign RS256 JWTs with PyJWT. `FederatedIssuer` plays the external OIDC issuer a workload identity
trusts (an AKS cluster's service-account issuer): its assertions are what a federated token file holds.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
WORKLOAD_SUBJECT = "system:serviceaccount:release-custodian:custodian"


class SigningKey:
    """An RSA key pair with a key id, as published in a JWKS."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_urlsafe(16)

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self.private, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of `token` when this key signed it (PyJWT raises otherwise); time and audience unchecked."""
        claims: dict[str, Any] = jwt.decode(
            token,
            self.private.public_key(),
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
        )
        return claims

    def jwk(self) -> dict[str, Any]:
        key: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**key, "kid": self.kid, "use": "sig"}


class FederatedIssuer:
    """A stand-in for an external OIDC issuer whose tokens an app trusts (e.g. an AKS cluster's)."""

    def __init__(self, url: str = "https://oidc.sandbox.invalid/cluster") -> None:
        self.url = url
        self.key = SigningKey()

    def assertion(
        self, subject: str = WORKLOAD_SUBJECT, *, lifetime_s: int = 3600, audience: str = FEDERATED_AUDIENCE
    ) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": subject, "aud": [audience], "iat": now, "nbf": now, "exp": now + lifetime_s}
        return self.key.sign(claims)
