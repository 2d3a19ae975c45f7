"""GitHub Apps in the emulator's store: Apps, their installations, and the installation tokens issued.

`GithubAppStore` extends `GithubStoreCore` (and `GithubStore` extends it): an App has an id, a
slug, a registered RSA public key (PEM; None until the sandbox gives it one, see
`provision_app_keys`) and permissions; an installation puts it on one account (an organization
or a user) with the App's permissions unless given its own. `issue_installation_token` mints a
`ghs_` token that expires at a wall-clock instant (epoch seconds): real clients compare expiry
with the real time, so tokens never follow the movable scenario clock.

`generate_key_pair` and `provision_app_keys` are the sandbox's side: an RSA key pair per App
without a public key, the private key written as a PEM file (0600) a configuration can name.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from custodian.sandbox.clock import iso
from custodian.sandbox.github_records import DEFAULT_CREATED_AT, GithubSeedError, utc_or_none, valid_login
from custodian.sandbox.github_store_core import GithubStoreCore

#: permission levels, weakest first (GitHub's `read`, `write`, `admin`)
LEVELS = ("read", "write", "admin")


@dataclass
class AppRec:
    id: int
    slug: str
    name: str
    owner: str
    public_key: str | None
    permissions: dict[str, str]
    created_at: datetime

    @property
    def client_id(self) -> str:
        return f"Iv23li{self.id:014d}"

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "owner": self.owner,
            "client_id": self.client_id,
            "has_public_key": self.public_key is not None,
            "permissions": dict(self.permissions),
            "created_at": iso(self.created_at),
        }


@dataclass
class InstallationRec:
    id: int
    app_id: int
    account: str
    permissions: dict[str, str]
    created_at: datetime
    suspended_at: datetime | None = None

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app_id": self.app_id,
            "account": self.account,
            "permissions": dict(self.permissions),
            "created_at": iso(self.created_at),
            "suspended_at": iso(self.suspended_at),
        }


@dataclass
class InstallationTokenRec:
    token: str = field(repr=False)
    installation_id: int
    app_id: int
    account: str
    permissions: dict[str, str]
    issued_at: float  # wall-clock epoch seconds
    expires_at: float

    @property
    def expires_at_iso(self) -> str:
        return iso(datetime.fromtimestamp(self.expires_at, UTC)) or ""


def check_permissions(permissions: dict[str, str], what: str) -> dict[str, str]:
    out = {}
    for name, level in permissions.items():
        if level not in LEVELS:
            raise GithubSeedError(f"{what}: permission {name!r} must be one of {list(LEVELS)}, got {level!r}")
        out[str(name)] = str(level)
    return out


def load_public_key(pem: str) -> str:
    """`pem` if it is an RSA public key in PEM, else ValueError."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise ValueError("is not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("must be an RSA key (an App signs its JWTs with RS256)")
    return pem


def _public_key(pem: str, what: str) -> str:
    try:
        return load_public_key(pem)
    except ValueError as exc:
        raise GithubSeedError(f"{what}: public_key {exc}") from None


class GithubAppStore(GithubStoreCore):
    """Apps, installations and installation tokens (held under the store's `lock`)."""

    def _init_state(self) -> None:
        super()._init_state()
        self.apps: dict[int, AppRec] = {}
        self.installations: dict[int, InstallationRec] = {}
        self.installation_tokens: dict[str, InstallationTokenRec] = {}

    def add_app(
        self,
        app_id: int,
        *,
        slug: str,
        name: str | None = None,
        owner: str | None = None,
        public_key: str | None = None,
        permissions: dict[str, str] | None = None,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            what = f"GitHub App {app_id}"
            if app_id in self.apps:
                raise GithubSeedError(f"{what} already exists")
            if not valid_login(slug) or any(a.slug == slug.lower() for a in self.apps.values()):
                raise GithubSeedError(f"{what}: slug {slug!r} is invalid or taken")
            rec = AppRec(
                id=app_id,
                slug=slug.lower(),
                name=name or slug,
                owner=owner or "",
                public_key=_public_key(public_key, what) if public_key else None,
                permissions=check_permissions(permissions or {}, what),
                created_at=utc_or_none(created_at) or DEFAULT_CREATED_AT,
            )
            self.apps[app_id] = rec
            return rec.view()

    def set_app_public_key(self, app_id: int, public_key: str) -> None:
        with self.lock:
            self._app(app_id).public_key = _public_key(public_key, f"GitHub App {app_id}")

    def add_installation(
        self,
        app_id: int,
        installation_id: int,
        *,
        account: str,
        permissions: dict[str, str] | None = None,
        created_at: datetime | None = None,
        suspended_at: datetime | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            app = self._app(app_id)
            what = f"installation {installation_id} of GitHub App {app_id}"
            if installation_id in self.installations:
                raise GithubSeedError(f"{what}: the id is taken")
            owner = self.find_org(account) or self.find_user(account)
            if owner is None:
                raise GithubSeedError(f"{what}: unknown account {account!r}")
            if any(i.app_id == app_id and i.account.lower() == account.lower() for i in self.installations.values()):
                raise GithubSeedError(f"{what}: the App is already installed on {account!r}")
            rec = InstallationRec(
                id=installation_id,
                app_id=app.id,
                account=owner.login,
                permissions=check_permissions(permissions, what) if permissions is not None else dict(app.permissions),
                created_at=utc_or_none(created_at) or DEFAULT_CREATED_AT,
                suspended_at=utc_or_none(suspended_at),
            )
            self.installations[installation_id] = rec
            return rec.view()

    def issue_installation_token(
        self, installation_id: int, *, now: float, lifetime_s: float, permissions: dict[str, str] | None = None
    ) -> InstallationTokenRec:
        """A new token (the old ones stay valid until they expire, as on GitHub)."""
        with self.lock:
            installation = self.installations[installation_id]
            rec = InstallationTokenRec(
                token="ghs_" + secrets.token_hex(18),
                installation_id=installation.id,
                app_id=installation.app_id,
                account=installation.account,
                permissions=dict(permissions if permissions else installation.permissions),
                issued_at=now,
                expires_at=float(int(now + lifetime_s)),  # whole seconds, as `expires_at` says
            )
            self.installation_tokens[rec.token] = rec
            return rec

    def installation_token(self, secret: str) -> InstallationTokenRec | None:
        with self.lock:
            return self.installation_tokens.get(secret)

    def find_app(self, app_id: int) -> AppRec | None:
        return self.apps.get(app_id)

    def _app(self, app_id: int) -> AppRec:
        rec = self.find_app(app_id)
        if rec is None:
            raise GithubSeedError(f"unknown GitHub App {app_id}")
        return rec

    def app_installations(self, app_id: int) -> list[InstallationRec]:
        with self.lock:
            return sorted((i for i in self.installations.values() if i.app_id == app_id), key=lambda i: i.id)


def generate_key_pair() -> tuple[str, str]:
    """A new RSA 2048 key pair as (private PEM in GitHub's `BEGIN RSA PRIVATE KEY` form, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


def provision_app_keys(store: GithubAppStore, directory: Path) -> dict[int, Path]:
    """Give every App without a public key a new key pair; its private key goes to `github-app-{id}.pem`."""
    written: dict[int, Path] = {}
    with store.lock:
        pending = [app for app in store.apps.values() if app.public_key is None]
    for app in pending:
        private, public = generate_key_pair()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"github-app-{app.id}.pem"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(private, encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)
        store.set_app_public_key(app.id, public)
        written[app.id] = path
    return written


@dataclass(frozen=True)
class SandboxApp:
    """The App a sandbox configuration uses (env `GITHUB_APP_*`); all "" when the scenario has none."""

    app_id: str = ""
    key_file: str = ""
    installation_id: str = ""


def sandbox_app(store: GithubAppStore, org: str, key_files: dict[int, Path]) -> SandboxApp:
    """The first App whose private key the sandbox wrote, and its installation on `org` (if any)."""
    if not key_files:
        return SandboxApp()
    app_id = min(key_files)
    on_org = [i for i in store.app_installations(app_id) if i.account.lower() == org.lower()]
    return SandboxApp(str(app_id), str(key_files[app_id]), str(on_org[0].id) if on_org else "")
