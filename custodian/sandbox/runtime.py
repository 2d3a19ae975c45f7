"""The running sandbox: ARM and Entra ID (HTTPS), GitHub and Azurite started together, seeded from a scenario.

`Sandbox` is what `release-custodian sandbox serve`, `release-custodian demo` and the integration
tests use. `SandboxEnv` is the contract of the env file it writes (names users and scripts rely on).
"""

from __future__ import annotations

import secrets
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from custodian.sandbox.arm import ArmEmulator, start_arm
from custodian.sandbox.arm_auth import ArmAuth
from custodian.sandbox.azurite import Azurite, start_azurite
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.entra import EntraEmulator, start_entra
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.github import GithubEmulator, start_github
from custodian.sandbox.github_apps import SandboxApp, provision_app_keys, sandbox_app
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.scenario import Scenario, SeedSummary, seed_all
from custodian.sandbox.tls import SandboxTLS


@dataclass(frozen=True)
class SandboxEnv:
    """Connection facts for clients; `as_env()` gives the env-file contract names."""

    arm_endpoint: str
    ca_bundle: str
    azure_access_token: str
    tenant_id: str  # the Entra emulator's tenant, its app (client id, secret) and authority host
    client_id: str
    client_secret: str
    authority_host: str
    federated_token_file: str  # a service-account token the app trusts (workload identity)
    subscription_ids: tuple[str, ...]
    storage_connection_string: str
    github_base_url: str
    github_token: str
    github_org: str
    release_repos: tuple[str, ...]
    github_app: SandboxApp = field(default_factory=SandboxApp)  # the scenario's App: id, key file, installation

    def as_env(self) -> dict[str, str]:
        env = {
            "AZURE_ARM_ENDPOINT": self.arm_endpoint,
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "AZURE_ACCESS_TOKEN": self.azure_access_token,
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
            "AZURE_AUTHORITY_HOST": self.authority_host,
            "AZURE_FEDERATED_TOKEN_FILE": self.federated_token_file,
            "AZURE_SUBSCRIPTION_IDS": ",".join(self.subscription_ids),
            "AZURE_STORAGE_CONNECTION_STRING": self.storage_connection_string,
            "GITHUB_BASE_URL": self.github_base_url,
            "GITHUB_TOKEN": self.github_token,
            "GITHUB_ORG": self.github_org,
            "GITHUB_RELEASE_REPOS": ",".join(self.release_repos),
        }
        if self.github_app.app_id:
            env["GITHUB_APP_ID"] = self.github_app.app_id
            env["GITHUB_APP_PRIVATE_KEY_FILE"] = self.github_app.key_file
            env["GITHUB_APP_INSTALLATION_ID"] = self.github_app.installation_id
        if self.subscription_ids:
            # c7n-azure reads a single subscription from this name.
            env["AZURE_SUBSCRIPTION_ID"] = self.subscription_ids[0]
        return env

    def render(self) -> str:
        """Shell `KEY=VALUE` lines (values quoted where the shell needs it), sourceable by sh/bash."""
        lines = ["# release-custodian sandbox connection settings (generated; secrets are sandbox-only)"]
        lines += [f"{key}={shlex.quote(value)}" for key, value in self.as_env().items()]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.render(), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)


class Sandbox:
    """Starts and seeds the three emulators; use as a context manager."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        workdir: Path | None = None,
        faults: FaultPlan | None = None,
        page_size: int = 100,
        with_azurite: bool = True,
        token_lifetime_s: int = 3600,
        static_token: bool = True,
    ) -> None:
        self.scenario = scenario
        self._owns_workdir = workdir is None
        self.workdir = (workdir or Path(tempfile.mkdtemp(prefix="release-custodian-sandbox-"))).resolve()
        self.faults = faults
        self.page_size = page_size
        self.with_azurite = with_azurite
        self.clock = SandboxClock(scenario.clock_start(), ticking=True)
        self.azure_token = "sandbox-arm-" + secrets.token_hex(12)
        self.token_lifetime_s = token_lifetime_s  # of the tokens the Entra emulator issues
        self.static_token = static_token  # False: ARM accepts only Entra-issued tokens (AZURE_ACCESS_TOKEN is one)
        self.client_secret = "sandbox-entra-" + secrets.token_hex(12)
        self.entra: EntraEmulator | None = None
        self.entra_server: EmulatorServer | None = None
        self.github_token = "sandbox-gh-" + secrets.token_hex(12)
        self.arm: ArmEmulator | None = None
        self.arm_server: EmulatorServer | None = None
        self.github: GithubEmulator | None = None
        self.github_server: EmulatorServer | None = None
        self.azurite: Azurite | None = None
        self.summary: SeedSummary | None = None
        self._env: SandboxEnv | None = None

    def start(self) -> SandboxEnv:
        try:
            tls = SandboxTLS(self.workdir / "tls")
            self.entra, self.entra_server = start_entra(tls, token_lifetime_s=self.token_lifetime_s)
            app = self.entra.add_app(secret=self.client_secret)
            auth = ArmAuth({self.azure_token} if self.static_token else (), self.entra)
            self.arm, self.arm_server = start_arm(
                tls, faults=self.faults, page_size=self.page_size, clock=self.clock, auth=auth
            )
            if not self.static_token:
                self.azure_token = self.entra.issue(app.client_id, self.arm_server.url)[0]
            federated = self.entra.write_federated_token(self.workdir / "entra" / "federated-token")
            self.github, self.github_server = start_github(
                faults=self.faults, clock=self.clock, tokens={self.github_token}
            )
            if self.with_azurite:
                self.azurite = start_azurite()
            self.summary = seed_all(
                self.scenario,
                clock=self.clock,
                arm_store=self.arm.store,
                github_store=self.github.store,
                blob_connection_string=self.azurite.connection_string if self.azurite else None,
            )
            key_files = provision_app_keys(self.github.store, self.workdir / "github")
        except BaseException:
            self.stop()
            raise
        self._env = SandboxEnv(
            arm_endpoint=self.arm_server.url,
            ca_bundle=str(tls.ca_bundle_path),
            azure_access_token=self.azure_token,
            tenant_id=self.entra.tenant_id,
            client_id=app.client_id,
            client_secret=self.client_secret,
            authority_host=self.entra_server.url,
            federated_token_file=str(federated),
            subscription_ids=tuple(self.scenario.subscription_ids()),
            storage_connection_string=self.azurite.connection_string if self.azurite else "",
            github_base_url=self.github_server.url + "/api/v3",
            github_token=self.github_token,
            github_org=self.scenario.github_org(),
            release_repos=tuple(self.scenario.release_repos()),
            github_app=sandbox_app(self.github.store, self.scenario.github_org(), key_files),
        )
        return self._env

    @property
    def env(self) -> SandboxEnv:
        if self._env is None:
            raise RuntimeError("the sandbox is not started")
        return self._env

    def stop(self) -> None:
        for server in (self.arm_server, self.github_server, self.entra_server):
            if server is not None:
                server.stop()
        if self.azurite is not None:
            self.azurite.stop()
        self.arm_server = self.github_server = self.entra_server = None
        self.azurite = None
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
