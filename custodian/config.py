"""The configuration file: a pydantic v2 schema (unknown keys rejected), loading and error reporting.

Only this module reads the environment and files for settings: `${VAR}` in a string value is
replaced by the environment variable, and secrets are referenced by the *name* of the variable or
file that holds them, never written in the config. `load_config` returns a validated `Config` or
raises `ConfigError` listing every problem as `FILE:LINE: key.path: problem`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from custodian.cadence import Cadence, CadenceError, cadence_for
from custodian.rules.naming import DEFAULT_VERSION_PATTERN, AccountNamer, TemplateError

_DURATION = re.compile(r"^\s*(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_SECRET_SHAPE = re.compile(r"^(gh[pousr]_|github_pat_|eyJ|xox[abp]-)")  # token formats, not variable names
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_duration(value: object) -> timedelta:
    """`90s`, `30m`, `24h`, `14d`, `2w`, combinations like `1d12h`; a timedelta passes through."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a duration like 30m, 24h or 14d")
    if isinstance(value, int):
        raise ValueError(f"a bare number ({value}) is ambiguous: add a unit, e.g. {value}h or {value}d")
    match = _DURATION.match(value)
    if not value.strip() or match is None or not any(match.groups()):
        raise ValueError(f"'{value}' is not a duration (use units w, d, h, m, s, e.g. 24h or 1d12h)")
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": "string", "examples": ["24h", "14d"]}),
]


def _split_list(value: object) -> object:
    """Accept `a,b` (handy with `${VAR}`) as well as a YAML list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


StrList = Annotated[list[str], BeforeValidator(_split_list)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret lives: the name of an environment variable, or a file path. Never the secret."""

    env: str | None = Field(default=None, description="name of the environment variable holding the secret")
    file: Path | None = Field(default=None, description="path of a file holding the secret")

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' (a variable name) or 'file' (a path)")
        if self.env is not None and (
            not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.env) or _SECRET_SHAPE.match(self.env)
        ):
            raise ValueError(f"'env' must be an environment variable name, not a value (got {self.env[:4]}...)")
        return self

    def resolve(self) -> str:
        """Read the secret now (raises ConfigError naming the variable or file if it is missing)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError([f"secret: environment variable {self.env} is not set"])
            return value
        assert self.file is not None
        try:
            return self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError([f"secret: cannot read {self.file}: {exc.strerror}"]) from exc


class GithubMode(StrEnum):
    ENTERPRISE_SERVER = "enterprise-server"
    ORGANIZATION = "organization"


class GithubConfig(_Strict):
    mode: GithubMode = Field(description="enterprise-server (site-admin API) or organization (github.com, App)")
    base_url: str = Field(default="https://api.github.com", description="REST base URL; GHES ends in /api/v3")
    org: str
    release_repos: StrList = Field(min_length=1, description="owner/name repositories defining the timeline")
    production_environment: str = "production"
    token: SecretRef = Field(description="classic PAT (enterprise-server) or installation token (organization)")
    per_page: int = Field(default=100, ge=1, le=100)

    @field_validator("release_repos")
    @classmethod
    def _repos(cls, repos: list[str]) -> list[str]:
        for repo in repos:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
                raise ValueError(f"'{repo}' is not owner/name")
        return repos

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not re.match(r"^https?://", url):
            raise ValueError(f"'{url}' is not an http(s) URL")
        return url.rstrip("/")


class RegistryKind(StrEnum):
    SECURE = "secure"
    STANDARD = "standard"


class RegistryConfig(_Strict):
    stage: str
    kind: RegistryKind
    subscription: str
    resource_group: str
    name: str = Field(pattern=r"^[A-Za-z0-9]{5,50}$", description="ACR registry resource name")
    login_server: str | None = None


class AzureConfig(_Strict):
    arm_endpoint: str = Field(default="https://management.azure.com", description="ARM base URL (sovereign, Stack)")
    ca_bundle: Path | None = Field(default=None, description="CA bundle for the ARM endpoint (private CAs)")
    subscriptions: StrList = Field(min_length=1)
    access_token: SecretRef | None = Field(
        default=None, description="a bearer token for ARM; when absent, azure-identity's DefaultAzureCredential"
    )
    registries: list[RegistryConfig] = Field(default_factory=list)

    @field_validator("arm_endpoint")
    @classmethod
    def _endpoint(cls, url: str) -> str:
        if not url.startswith("https://"):
            raise ValueError(f"'{url}' must be an https:// URL (ARM bearer tokens are never sent over http)")
        return url.rstrip("/")


class NamingConfig(_Strict):
    account: str = "{version}-{stage}-{kind}-sa"
    stage_tag: str = "{version}-{stage}"
    prod_tag: str = "{version}"
    version_pattern: str = DEFAULT_VERSION_PATTERN
    version_tag_key: str = "release-version"
    stage_tag_key: str = "release-stage"

    @field_validator("version_pattern")
    @classmethod
    def _regex(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return pattern


class LifecycleConfig(_Strict):
    handoff_grace: Duration = Field(default=timedelta(hours=1), description="L1 grace after the next stage starts")
    prod_revocation_grace: Duration = Field(default=timedelta(hours=1), description="L2 grace after prod success")
    retention: Duration = Field(default=timedelta(hours=24), description="L3: delete accounts this long after prod")
    max_credential_lifetime: Duration = Field(default=timedelta(days=30), description="H1 limit")


class HoldsConfig(_Strict):
    max_duration: Duration = Field(default=timedelta(days=14))


class Mode(StrEnum):
    AUDIT = "audit"
    ENFORCE = "enforce"


class EnforceConfig(_Strict):
    allowed_subscriptions: StrList = Field(default_factory=list)
    allowed_orgs: StrList = Field(default_factory=list)
    max_actions_per_run: int = Field(default=50, ge=1)
    max_actions_percent: float = Field(default=50.0, gt=0, le=100)


class StorageAccountConfig(_Strict):
    """A storage account the blob sweep reads (data plane): by connection string or account URL."""

    name: str = Field(description="the account name, as in reports")
    subscription: str | None = Field(
        default=None,
        description="the subscription it belongs to (the allowlist's scope); when absent, resolved from ARM",
    )
    connection_string: SecretRef | None = Field(default=None, description="where the connection string lives")
    account_url: str | None = Field(default=None, description="https://<name>.blob.core.windows.net (Entra ID auth)")
    containers: list[str] | None = Field(default=None, description="containers to sweep; all when absent")
    ephemeral_containers: list[str] = Field(default_factory=list, description="containers whose old blobs are O6")

    @model_validator(mode="after")
    def _one_endpoint(self) -> StorageAccountConfig:
        if (self.connection_string is None) == (self.account_url is None):
            raise ValueError("give exactly one of 'connection_string' or 'account_url'")
        return self


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration (a zero grace would delete without a warning period)")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]


class ReaperConfig(_Strict):
    """Rule L4 (QA/UAT leftovers after prod) and orphans O1-O6, reaped in two phases (mark, then delete)."""

    policies_dir: Path | None = Field(
        default=None, description="Cloud Custodian policy files (default: the policies/ shipped with release-custodian)"
    )
    mark_grace: PositiveDuration = Field(description="time between marking and deleting; required, never zero")
    leftover_grace: Duration = Field(default=timedelta(hours=24), description="L4: after the production success")
    hold_tag: str = Field(default="custodian-hold", description="a resource or blob with this tag is never touched")
    mark_tag: str = Field(default="custodian-reap", description="tag holding the planned deletion (mark-for-op)")
    orphan_disk_min_age: PositiveDuration = Field(default=timedelta(days=30), description="O1")
    stopped_vm_min_age: PositiveDuration = Field(default=timedelta(days=14), description="O5")
    stale_blob_age: PositiveDuration = Field(default=timedelta(days=7), description="O6, from last-modified")
    storage_accounts: list[StorageAccountConfig] = Field(default_factory=list)
    price_table: Path | None = Field(default=None, description="a price table file overriding the shipped one")
    c7n_timeout: PositiveDuration = Field(default=timedelta(minutes=15), description="per c7n policy run")


def _nonzero(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


Span = Annotated[Duration, AfterValidator(_nonzero)]


class JobKind(StrEnum):
    """What a scheduled job does. The `test-*` kinds exist for the test-suite only (see `TEST_JOBS_ENV`)."""

    AUDIT = "audit"  # read-only lifecycle run (rules L1-L3, H1, N1, N2)
    ACCOUNTS = "accounts"  # enforce L1-L3 (applies only when the job's and the config's mode are enforce)
    REAP = "reap"  # the reaper (L4, orphans), when this version has one
    DIGEST = "digest"  # a summary report of the ledger's recent runs
    TEST_NOOP = "test-noop"  # TEST ONLY: does nothing
    TEST_SLEEP = "test-sleep"  # TEST ONLY: sleeps `test.sleep`
    TEST_FAIL = "test-fail"  # TEST ONLY: raises
    TEST_ACTIONS = "test-actions"  # TEST ONLY: `test.actions` synthetic fenced actions through the Executor


TEST_JOBS_ENV = "RELEASE_CUSTODIAN_TEST_JOBS"  # `1` enables the test-* job kinds (set by the test-suite only)


class JobTestParams(_Strict):
    """Parameters of the test-only job kinds (never needed in production)."""

    sleep: float = Field(
        default=0.0, ge=0, le=60, description="seconds; test-sleep: how long; test-actions: per action"
    )
    actions: int = Field(default=3, ge=1, le=1000, description="test-actions: how many synthetic actions")
    marker: Path | None = Field(default=None, description="a file each execution appends one JSON line to")


_DEFAULT_MODE = {JobKind.AUDIT: Mode.AUDIT, JobKind.ACCOUNTS: Mode.ENFORCE, JobKind.REAP: Mode.ENFORCE}


class JobConfig(_Strict):
    """One scheduled job: what it does, when (a cron expression or an interval) and in which mode."""

    kind: JobKind
    enabled: bool = True
    cron: str | None = Field(default=None, description="crontab expression (5 fields, 0/7 = Sunday) or @daily etc.")
    interval: Span | None = Field(default=None, description="every N (e.g. 15m), aligned on the epoch")
    timezone: str = Field(default="UTC", description="IANA timezone the cron expression is read in")
    mode: Mode | None = Field(
        default=None,
        description="audit or enforce (accounts, reap); enforce applies only when the top-level mode is enforce",
    )
    misfire_grace: Span | None = Field(
        default=None, description="how late a run may still start (default: schedule.misfire_grace)"
    )
    catch_up: bool = Field(default=True, description="after downtime, run the latest missed slot once")
    window: Span = Field(default=timedelta(days=7), description="digest: how far back it looks")
    test: JobTestParams | None = Field(default=None, description="test-only job kinds' parameters")

    @model_validator(mode="after")
    def _check(self) -> JobConfig:
        self.cadence()
        if self.kind.value.startswith("test-") and os.environ.get(TEST_JOBS_ENV) != "1":
            raise ValueError(f"job kind {self.kind.value} is for the test-suite only ({TEST_JOBS_ENV}=1)")
        if self.mode is not None and self.kind not in _DEFAULT_MODE:
            raise ValueError(f"a {self.kind.value} job has no mode")
        if self.kind is JobKind.AUDIT and self.mode is Mode.ENFORCE:
            raise ValueError("the audit job is read-only: enforce with the accounts job")
        return self

    def cadence(self) -> Cadence:
        try:
            return cadence_for(self.cron, self.interval, self.timezone)
        except CadenceError as exc:
            raise ValueError(str(exc)) from exc

    @property
    def effective_mode(self) -> Mode:
        return self.mode or _DEFAULT_MODE.get(self.kind, Mode.AUDIT)


DEFAULT_JOBS: dict[str, dict[str, Any]] = {
    "audit": {"kind": "audit", "cron": "0 * * * *"},  # hourly
    "accounts": {"kind": "accounts", "cron": "*/15 * * * *"},  # every 15 minutes
    "reap": {"kind": "reap", "cron": "0 2 * * *"},  # nightly, 02:00
    "digest": {"kind": "digest", "cron": "0 7 * * 1"},  # weekly, Monday 07:00
}


class ScheduleConfig(_Strict):
    """The scheduled service's jobs (`scheduler.py`, `release-custodian schedule`).

    `jobs` maps a job id to its settings. The four standard ids (audit, accounts, reap, digest)
    are always present with their default cadence; an entry for one of them overrides only the keys
    it gives (`audit: {enabled: false}`, `accounts: {interval: 5m}`). Other ids need a `kind`.
    """

    misfire_grace: Span = Field(
        default=timedelta(minutes=10), description="default: how late a run may start before it counts as missed"
    )
    jobs: dict[str, JobConfig] = Field(default_factory=lambda: _merge_jobs({}))

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("jobs", {}), dict):
            return {**data, "jobs": _merge_jobs(data.get("jobs") or {})}
        return data

    @field_validator("jobs")
    @classmethod
    def _ids(cls, jobs: dict[str, JobConfig]) -> dict[str, JobConfig]:
        for job_id in jobs:
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", job_id):
                raise ValueError(f"job id {job_id!r} must be lower-case letters, digits, - or _ (at most 64)")
        return jobs

    def enabled_jobs(self) -> dict[str, JobConfig]:
        return {job_id: job for job_id, job in self.jobs.items() if job.enabled}


def _merge_jobs(given: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for job_id, default in DEFAULT_JOBS.items():
        override = given.get(job_id)
        if isinstance(override, dict):
            base = dict(default)
            if "cron" in override or "interval" in override:
                base.pop("cron", None)
            merged[job_id] = {**base, **override}
        elif override is None:
            merged[job_id] = dict(default)
        else:
            merged[job_id] = override  # not a mapping: let validation say so
    merged.update({job_id: value for job_id, value in given.items() if job_id not in DEFAULT_JOBS})
    return merged


class HealthConfig(_Strict):
    port: int | None = Field(
        default=None, ge=0, le=65535, description="HTTP port of /healthz and /metrics; off if unset"
    )
    bind: str = Field(default="127.0.0.1", description="address to listen on (0.0.0.0 in a container)")


class LeaseConfig(_Strict):
    ttl: Span = Field(default=timedelta(seconds=30), description="a dead leader is replaced within this")
    renew_every: Span = Field(default=timedelta(seconds=10), description="renewal (and standby poll) period")

    @model_validator(mode="after")
    def _renew_often_enough(self) -> LeaseConfig:
        if self.renew_every * 2 > self.ttl:
            raise ValueError(
                f"renew_every ({format_duration(self.renew_every)}) must be at most half the ttl "
                f"({format_duration(self.ttl)}), or a healthy leader could lose its lease"
            )
        return self


class ServiceConfig(_Strict):
    """How the scheduled service runs: its identity, its health endpoint and its leader lease."""

    replica_id: str | None = Field(
        default=None, max_length=200, description="this replica's name in the lease (default: host:pid:random)"
    )
    health: HealthConfig = Field(default_factory=HealthConfig)
    lease: LeaseConfig = Field(default_factory=LeaseConfig)


class LedgerConfig(_Strict):
    url: str = "sqlite:///.custodian/ledger.sqlite"


class ReportsConfig(_Strict):
    directory: Path = Path("reports")


class Config(_Strict):
    """release-custodian configuration (YAML)."""

    github: GithubConfig
    azure: AzureConfig
    stages: list[str] = Field(default_factory=lambda: ["qa", "uat", "prod"], min_length=2)
    naming: NamingConfig = Field(default_factory=NamingConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    holds: HoldsConfig = Field(default_factory=HoldsConfig)
    mode: Mode = Mode.AUDIT
    enforce: EnforceConfig = Field(default_factory=EnforceConfig)
    reaper: ReaperConfig | None = Field(default=None, description="rule L4 and orphans; off when absent")
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)

    @field_validator("stages")
    @classmethod
    def _stages(cls, stages: list[str]) -> list[str]:
        if len(set(stages)) != len(stages):
            raise ValueError("stages must be unique")
        for stage in stages:
            if not re.fullmatch(r"[a-z][a-z0-9]*", stage):
                raise ValueError(f"stage '{stage}' must be lower-case letters and digits")
        return stages

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        problems = []
        for index, registry in enumerate(self.azure.registries):
            if registry.stage not in self.stages:
                problems.append(f"azure.registries[{index}].stage: '{registry.stage}' is not one of {self.stages}")
            if registry.subscription not in self.azure.subscriptions:
                problems.append(
                    f"azure.registries[{index}].subscription: '{registry.subscription}' is not in azure.subscriptions"
                )
        try:
            self.namer()
        except TemplateError as exc:
            problems.append(f"naming: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def namer(self) -> AccountNamer:
        return AccountNamer(
            tuple(self.stages),
            account_template=self.naming.account,
            stage_tag_template=self.naming.stage_tag,
            prod_tag_template=self.naming.prod_tag,
            version_pattern=self.naming.version_pattern,
        )

    def digest(self) -> str:
        """A stable digest of the effective configuration (no secrets are in it)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists each as `FILE:LINE: path: problem`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _expand_env(node: Any, path: str, missing: list[str]) -> Any:
    if isinstance(node, dict):
        return {key: _expand_env(value, f"{path}.{key}" if path else str(key), missing) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand_env(value, f"{path}[{i}]", missing) for i, value in enumerate(node)]
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                missing.append(f"{path}: environment variable {name} is not set")
                return ""
            return os.environ[name]

        return _ENV_REF.sub(replace, node)
    return node


def _line_index(text: str) -> dict[tuple[str | int, ...], int]:
    """Map key paths of the YAML document to 1-based line numbers."""
    index: dict[tuple[str | int, ...], int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return index

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                index[child] = key.start_mark.line + 1
                walk(value, child)
                index[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_validation_error(exc: ValidationError, source: str, lines: dict[tuple[str | int, ...], int]) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = None
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in lines:
                line = lines[loc[:cut]]
                break
        where = f"{source}:{line}" if line else source
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (not part of the configuration schema; check the spelling)"
        elif error["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{where}: {_dotted(loc)}: {message}")
    return problems


# Where a configuration holds file paths: resolved against the configuration file's directory.
_PATH_KEYS: tuple[tuple[str, ...], ...] = (
    ("azure", "ca_bundle"),
    ("reaper", "policies_dir"),
    ("reaper", "price_table"),
    ("reports", "directory"),
)


def _absolute(value: object, base: Path) -> object:
    if isinstance(value, str) and value.strip():
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())
    return value


def _resolve_paths(node: Any, base: Path) -> Any:
    """Relative paths made absolute against `base` (the config file's directory), before validation.

    Covers the keys of `_PATH_KEYS`, every secret's `file`, a SQLite `ledger.url` and the test jobs'
    `marker`: whatever later runs in another working directory (c7n's subprocess, the scheduler) then
    reads the same file.
    """
    if isinstance(node, list):
        return [_resolve_paths(item, base) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _resolve_paths(value, base) for key, value in node.items()}
    if set(out) <= {"env", "file"} and "file" in out:  # a SecretRef
        out["file"] = _absolute(out["file"], base)
    if "marker" in out:
        out["marker"] = _absolute(out["marker"], base)
    return out


def resolve_config_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    data = _resolve_paths(data, base)
    for section, key in _PATH_KEYS:
        if isinstance(data.get(section), dict) and key in data[section]:
            data[section][key] = _absolute(data[section][key], base)
    ledger = data.get("ledger")
    if isinstance(ledger, dict) and isinstance(ledger.get("url"), str):
        url: str = ledger["url"]
        prefix = "sqlite:///"
        if url.startswith(prefix) and url[len(prefix) :] and not url[len(prefix) :].startswith(("/", ":memory:")):
            ledger["url"] = prefix + str(_absolute(url[len(prefix) :], base))
    return data


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError([f"{where}: YAML syntax error: {getattr(exc, 'problem', None) or exc}"]) from exc
    if data is None:
        raise ConfigError([f"{source}: the file is empty"])
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys, not {type(data).__name__}"])
    missing: list[str] = []
    data = _expand_env(data, "", missing)
    if missing:
        raise ConfigError([f"{source}: {m}" for m in missing])
    if base_dir is not None:
        data = resolve_config_paths(data, base_dir)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, _line_index(text))) from exc


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the configuration: {exc.strerror}"]) from exc
    return parse_config(text, str(path), path.resolve().parent)


def config_schema() -> dict[str, Any]:
    return Config.model_json_schema()
