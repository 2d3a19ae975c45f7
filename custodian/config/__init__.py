"""The configuration file: a pydantic v2 schema (unknown keys rejected), loading and error reporting.

Only this package reads the environment and files for settings: `${VAR}` in a string value is
replaced by the environment variable, secrets are referenced by the *name* of the variable or file
that holds them (never written in the config), and paths written in a file are relative to its
directory. `load_config` returns a validated `Config` or raises `ConfigError` listing every problem
as `FILE:LINE: key.path: problem`.

- `values`: durations, lists, secret references, the strict base model, `ConfigError`;
- `models`: the sections (github, azure, naming, lifecycle, holds, enforce, reaper, ledger, reports) and `Config`;
- `collecting`: the collect section (when a shrunken listing is read a second time);
- `reporting`: the reports section (directory, formats, finance tag keys, trend, SARIF anchor);
- `schedule`: the scheduled service's jobs, health endpoint and lease;
- `yaml_strict`: reading the YAML strictly (UTF-8, no duplicate keys, aliases of bounded size);
- `loading`: parsing a file (env expansion, path resolution, line numbers).
"""

from custodian.config.collecting import CollectConfig
from custodian.config.loading import (
    config_schema,
    format_validation_error,
    load_config,
    parse_config,
    resolve_config_paths,
)
from custodian.config.models import (
    AzureConfig,
    AzureCredentialConfig,
    AzureCredentialKind,
    Config,
    EnforceConfig,
    GithubAppConfig,
    GithubConfig,
    GithubMode,
    HoldsConfig,
    LedgerConfig,
    LifecycleConfig,
    NamingConfig,
    ReaperConfig,
    RegistryConfig,
    RegistryKind,
    ReportsConfig,
    StorageAccountConfig,
)
from custodian.config.schedule import (
    DEFAULT_JOBS,
    TEST_JOBS_ENV,
    HealthConfig,
    JobConfig,
    JobKind,
    JobTestParams,
    LeaseConfig,
    ScheduleConfig,
    ServiceConfig,
)
from custodian.config.values import (
    ConfigError,
    Duration,
    Mode,
    PositiveDuration,
    SecretRef,
    Span,
    StrList,
    format_duration,
    parse_duration,
)

__all__ = [
    "DEFAULT_JOBS",
    "TEST_JOBS_ENV",
    "AzureConfig",
    "AzureCredentialConfig",
    "AzureCredentialKind",
    "CollectConfig",
    "Config",
    "ConfigError",
    "Duration",
    "EnforceConfig",
    "GithubAppConfig",
    "GithubConfig",
    "GithubMode",
    "HealthConfig",
    "HoldsConfig",
    "JobConfig",
    "JobKind",
    "JobTestParams",
    "LeaseConfig",
    "LedgerConfig",
    "LifecycleConfig",
    "Mode",
    "NamingConfig",
    "PositiveDuration",
    "ReaperConfig",
    "RegistryConfig",
    "RegistryKind",
    "ReportsConfig",
    "ScheduleConfig",
    "SecretRef",
    "ServiceConfig",
    "Span",
    "StorageAccountConfig",
    "StrList",
    "config_schema",
    "format_duration",
    "format_validation_error",
    "load_config",
    "parse_config",
    "parse_duration",
    "resolve_config_paths",
]
