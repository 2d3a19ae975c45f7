"""GitHub App authentication: PyGithub's own App flow, behind the session's read-only guard.

`Auth.AppAuth(app_id, key)` signs an RS256 JWT (`iss` the App id, `iat` 60 s in the past, `exp` 5
minutes ahead: PyGithub's defaults, within GitHub's 10 minutes). `AppInstallationAuth` exchanges it
by `POST /app/installations/{id}/access_tokens` for an installation access token, and exchanges
again whenever the token it holds is within 20 s of its `expires_at` (PyGithub's threshold): before
a request would carry an expired token, never after a 401.

`InstallationAuth` keeps that flow and adds:

- the requester PyGithub builds for the exchange gets the session's connection class, which counts
  every call and lets through only GET and the exchange POST of this installation (audit or not);
- an installation id that is not configured is looked up once, by `GET /app/installations` (the
  installation whose account is the configured organization);
- a refused exchange or lookup raises `GithubAppAuthError` saying what to check (never the key);
- a lock, so that concurrent requests exchange once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, GithubException
from github.Auth import AppInstallationAuth
from github.Requester import Requester

#: is this (verb, url) the one mutating call the guard lets through?
Exempt = Callable[[str, str], bool]
#: installs the session's guarded, counting connection class on a requester
Guard = Callable[[Requester, Exempt], None]


@dataclass(frozen=True)
class GithubAppCredentials:
    """What authenticating as an App takes; `private_key` is the PEM text (never printed)."""

    app_id: int
    private_key: str = field(repr=False)
    installation_id: int | None = None


class GithubAppAuthError(RuntimeError):
    """The App could not authenticate (wrong key, unknown App, no installation): nothing was read."""


def check_private_key(pem: str) -> None:
    """Raise ValueError (naming no part of the key) unless `pem` is an unencrypted RSA private key."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise ValueError("the private key is encrypted; GitHub issues unencrypted PEM files") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("not a PEM private key (GitHub's file starts with -----BEGIN RSA PRIVATE KEY-----)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"RS256 needs an RSA key, this is {type(key).__name__.removeprefix('_')}")


class InstallationAuth(AppInstallationAuth):
    """PyGithub's refreshing installation auth, guarded and counted; see the module docstring."""

    def __init__(self, credentials: GithubAppCredentials, *, base_url: str, org: str, guard: Guard) -> None:
        self._credentials = credentials
        self._org = org
        self._guard = guard
        self._prefix = urlsplit(base_url).path.rstrip("/")
        self._lock = threading.RLock()
        self._known = credentials.installation_id is not None
        self._integration: Any = None
        self._refused: str | None = None  # a definitive refusal (401/403/404) is not asked again
        app = Auth.AppAuth(credentials.app_id, credentials.private_key)
        super().__init__(app, credentials.installation_id or 0)

    def withRequester(self, requester: Requester) -> InstallationAuth:  # PyGithub's name
        super().withRequester(requester)
        integration = getattr(self, "_AppInstallationAuth__integration", None)
        if integration is None:  # fail closed if PyGithub's internals move
            raise RuntimeError("cannot guard the GitHub App token exchange on this PyGithub version")
        self._guard(integration.requester, self._is_exchange)
        self._integration = integration
        return self

    def _is_exchange(self, verb: str, url: str) -> bool:
        path = urlsplit(url).path
        expected = f"{self._prefix}/app/installations/{self._installation_id}/access_tokens"
        return self._known and verb.upper() == "POST" and path == expected

    @property
    def token(self) -> str:
        with self._lock:
            if self._refused is not None:
                raise GithubAppAuthError(self._refused)
            if not self._known:
                self._installation_id = self._discover()
                self._known = True
            try:
                return str(super().token)
            except GithubException as exc:
                raise GithubAppAuthError(self._refusal(exc)) from exc
            except requests.RequestException as exc:
                raise GithubAppAuthError(f"{self._who()}: the token exchange failed: {exc}") from exc

    def _who(self) -> str:
        return f"GitHub App {self._credentials.app_id}"

    def _discover(self) -> int:
        try:
            installations = list(self._integration.get_installations())
        except GithubException as exc:
            raise GithubAppAuthError(self._refusal(exc, looking_up=True)) from exc
        except requests.RequestException as exc:
            raise GithubAppAuthError(f"{self._who()}: GET /app/installations failed: {exc}") from exc
        accounts = []
        for installation in installations:
            login = str((installation.raw_data.get("account") or {}).get("login", ""))
            if login.lower() == self._org.lower():
                return int(installation.id)
            accounts.append(login)
        listed = ", ".join(sorted(accounts)) or "none"
        self._refused = (
            f"{self._who()} is not installed on organization {self._org!r} (its installations: {listed}); "
            "install it there, or set github.app.installation_id"
        )
        raise GithubAppAuthError(self._refused)

    def _refusal(self, exc: GithubException, *, looking_up: bool = False) -> str:
        message = self._explain(exc, looking_up=looking_up)
        if exc.status in (401, 403, 404):
            self._refused = message
        return message

    def _explain(self, exc: GithubException, *, looking_up: bool = False) -> str:
        data = exc.data if isinstance(exc.data, dict) else {}
        message = str(data.get("message") or exc)
        step = (
            "GET /app/installations" if looking_up else f"the token exchange for installation {self._installation_id}"
        )
        hint = ""
        if exc.status == 401 and "decoded" in message:
            hint = f": github.app.private_key is not a key of App {self._credentials.app_id} (or app_id is wrong)"
        elif exc.status == 401 and "claim" in message:
            hint = ": the JWT's times were refused (is this machine's clock right?)"
        elif exc.status == 401:
            hint = ": check github.app.app_id and github.app.private_key"
        elif exc.status == 404 and not looking_up:
            hint = f": App {self._credentials.app_id} has no installation {self._installation_id}"
            hint += " (check github.app.installation_id)"
        return f"{self._who()}: {step} was refused ({exc.status} {message}){hint}"
