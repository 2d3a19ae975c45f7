"""The running sandbox: ARM (HTTPS), GitHub and Azurite started together, seeded from a scenario.

`Sandbox` is what `release-custodian sandbox serve`, `release-custodian demo` and the integration
tests use. `SandboxEnv` is the contract of the env file it writes (names users and scripts rely on).
"""

from __future__ import annotations

import secrets
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from custodian.sandbox.arm import ArmEmulator, start_arm
from custodian.sandbox.azurite import Azurite, start_azurite
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.github import GithubEmulator, start_github
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.scenario import Scenario, SeedSummary, seed_all
from custodian.sandbox.tls import SandboxTLS


@dataclass(frozen=True)
class SandboxEnv:
    """Connection facts for clients; `as_env()` gives the env-file contract names."""

    arm_endpoint: str
    ca_bundle: str
    azure_access_token: str
    subscription_ids: tuple[str, ...]
    storage_connection_string: str
    github_base_url: str
    github_token: str
    github_org: str
    release_repos: tuple[str, ...]

    def as_env(self) -> dict[str, str]:
        env = {
            "AZURE_ARM_ENDPOINT": self.arm_endpoint,
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "AZURE_ACCESS_TOKEN": self.azure_access_token,
            "AZURE_SUBSCRIPTION_IDS": ",".join(self.subscription_ids),
            "AZURE_STORAGE_CONNECTION_STRING": self.storage_connection_string,
            "GITHUB_BASE_URL": self.github_base_url,
            "GITHUB_TOKEN": self.github_token,
            "GITHUB_ORG": self.github_org,
            "GITHUB_RELEASE_REPOS": ",".join(self.release_repos),
        }
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
    ) -> None:
        self.scenario = scenario
        self._owns_workdir = workdir is None
        self.workdir = (workdir or Path(tempfile.mkdtemp(prefix="release-custodian-sandbox-"))).resolve()
        self.faults = faults
        self.page_size = page_size
        self.with_azurite = with_azurite
        self.clock = SandboxClock(scenario.clock_start(), ticking=True)
        self.azure_token = "sandbox-arm-" + secrets.token_hex(12)
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
            self.arm, self.arm_server = start_arm(tls, faults=self.faults, page_size=self.page_size, clock=self.clock)
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
        except BaseException:
            self.stop()
            raise
        self._env = SandboxEnv(
            arm_endpoint=self.arm_server.url,
            ca_bundle=str(tls.ca_bundle_path),
            azure_access_token=self.azure_token,
            subscription_ids=tuple(self.scenario.subscription_ids()),
            storage_connection_string=self.azurite.connection_string if self.azurite else "",
            github_base_url=self.github_server.url + "/api/v3",
            github_token=self.github_token,
            github_org=self.scenario.github_org(),
            release_repos=tuple(self.scenario.release_repos()),
        )
        return self._env

    @property
    def env(self) -> SandboxEnv:
        if self._env is None:
            raise RuntimeError("the sandbox is not started")
        return self._env

    def stop(self) -> None:
        for server in (self.arm_server, self.github_server):
            if server is not None:
                server.stop()
        if self.azurite is not None:
            self.azurite.stop()
        self.arm_server = self.github_server = None
        self.azurite = None
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
