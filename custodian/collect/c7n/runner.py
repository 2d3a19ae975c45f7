"""Run Cloud Custodian (c7n / c7n-azure) policies in a subprocess and read back what they found.

`run_policies` starts ``python -I -m custodian.collect.c7n.launcher --arm-endpoint URL -- run -s OUT FILE``
(the launcher points c7n-azure at the ARM endpoint, then calls c7n's own CLI) and returns a
`PolicyRunResult`: the exit code, the tail of stderr, and per policy the parsed
``OUT/<policy>/resources.json`` and ``metadata.json``. `validate_policies` runs ``custodian
validate`` the same way (offline) and returns its problems. Our package never installs or calls a
console script named ``custodian``.

The child gets a fresh environment built here, not a copy of ours: ``AZURE_ACCESS_TOKEN``,
``AZURE_SUBSCRIPTION_ID``, ``REQUESTS_CA_BUNDLE`` (when a CA bundle is given) plus `extra_env`.
Nothing else leaks in (no other ``AZURE_*`` credentials, no proxy settings, no cloud selection),
so c7n-azure authenticates with the given token only and talks to no host but the ARM endpoint.
The child runs with umask 077: its output (and the output directory, created 0700) is owner-only.

Options of `run_policies` map to launcher options (see `custodian.collect.c7n.launcher`): `read_only`
(``--read-only``: no mutating request leaves the child), `as_of` (``--as-of``: c7n's time-based
filters and ``mark-for-op`` evaluate at that time), `record_operations` (``--record-operations``:
every DELETE response is appended to a JSON-lines file), `retry_total`/`retry_backoff_s`
(c7n-azure's retry policy) and `http_timeout` (``--http-timeout``: connect and read timeouts of
every HTTP call, so a dead endpoint fails in seconds). c7n's resource cache is off by default
(``--cache-period 0``; c7n's own default is a 15-minute on-disk cache under ``~/.cache``, which
would serve a later run the listing of an earlier one); ``cache="memory"`` shares one listing per
resource type among the policies of this run only.

The child runs in a process group of its own and dies with its parent (see
`custodian.collect.c7n.child`). Failures are never silent: a timeout (the group is killed), a non-zero exit, a
policy c7n reports as errored, or a policy without a readable ``resources.json`` each add a reason
to `PolicyRunResult.problems`, and `PolicyRunResult.ok` is true only when there is none. Output
files of the policies about to run are removed first, so a file found afterwards is this run's.
The access token is redacted from everything the result holds.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml

from custodian.collect.c7n.child import run_child
from custodian.collect.c7n.launcher import normalise_endpoint
from custodian.collect.c7n.results import (
    C7nRunError,
    PolicyOutput,
    PolicyRunResult,
    log_records,
    read_calls,
    read_result,
    tail,
)
from custodian.errors import BadInputError
from custodian.private_files import make_private_dirs

__all__ = [
    "C7nRunError",
    "PolicyOutput",
    "PolicyRunResult",
    "c7n_run_args",
    "launcher_options",
    "policy_names",
    "prepare_output",
    "read_result",
    "run_policies",
    "validate_policies",
]

LAUNCHER_MODULE = "custodian.collect.c7n.launcher"
MANAGED_ENV = ("AZURE_ACCESS_TOKEN", "AZURE_SUBSCRIPTION_ID", "REQUESTS_CA_BUNDLE")


# -- public API ----------------------------------------------------------------------------------
def policy_names(policy_file: Path) -> list[str]:
    """The policy names of a c7n policy file, in order; `BadInputError` when it cannot be read."""
    try:
        data = yaml.safe_load(policy_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"cannot read policy file {policy_file}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise BadInputError(f"policy file {policy_file} is not valid YAML: {exc}") from exc
    policies = data.get("policies") if isinstance(data, dict) else None
    if not isinstance(policies, list) or not policies:
        raise BadInputError(f"policy file {policy_file} has no 'policies' list")
    names: list[str] = []
    for index, policy in enumerate(policies):
        name = policy.get("name") if isinstance(policy, dict) else None
        if not isinstance(name, str) or not name:
            raise BadInputError(f"policy #{index + 1} in {policy_file} has no name")
        names.append(name)
    return names


def run_policies(
    policy_file: Path,
    output_dir: Path,
    *,
    arm_endpoint: str,
    subscription_id: str,
    access_token: str,
    ca_bundle: str | None,
    timeout_s: float,
    dry_run: bool = False,
    extra_env: Mapping[str, str] | None = None,
    token_audience: str | None = None,
    read_only: bool = False,
    as_of: datetime | None = None,
    record_operations: Path | None = None,
    cache: Literal["off", "memory"] = "off",
    retry_total: int | None = None,
    retry_backoff_s: float | None = None,
    http_timeout: tuple[float, float] | None = None,
) -> PolicyRunResult:
    """Run every policy of `policy_file` against one subscription behind `arm_endpoint`.

    `token_audience` defaults to the ARM endpoint. `read_only`, `as_of`, `record_operations`,
    `cache` and the retry settings (c7n-azure's retry policy, ``--retry-total``/``--retry-backoff``;
    None keeps its defaults) are described in the module docstring; `as_of` must be timezone-aware. `extra_env` adds
    variables to the child's environment (e.g. proxy settings) but may not override the managed ones
    (`MANAGED_ENV`).
    Raises `BadInputError` for an unreadable policy file or a malformed endpoint/argument; every
    failure of the run itself is reported in the result.
    """
    if timeout_s <= 0:
        raise BadInputError(f"timeout_s must be positive, got {timeout_s}")
    if not subscription_id.strip() or not access_token:
        raise BadInputError("a subscription id and an access token are required to run c7n")
    try:
        endpoint = normalise_endpoint(arm_endpoint)
        audience = normalise_endpoint(token_audience) if token_audience else None
    except ValueError as exc:
        raise BadInputError(str(exc)) from exc
    policy_file = policy_file.resolve()
    output_dir = output_dir.resolve()
    names = policy_names(policy_file)
    prepare_output(output_dir, names)
    env = child_env(extra_env)
    env.update({"AZURE_ACCESS_TOKEN": access_token, "AZURE_SUBSCRIPTION_ID": subscription_id.strip()})
    if ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = ca_bundle
    launcher_args = launcher_options(
        endpoint,
        audience,
        as_of=as_of,
        read_only=read_only,
        record_operations=record_operations,
        retry_total=retry_total,
        retry_backoff_s=retry_backoff_s,
        http_timeout=http_timeout,
    )
    calls_file = output_dir / "c7n-api-calls.json"
    calls_file.unlink(missing_ok=True)
    launcher_args += ["--count-calls", str(calls_file)]
    argv = launcher_command(launcher_args, c7n_run_args(output_dir, policy_file, cache, dry_run))
    outcome = run_child(argv, env, timeout_s, cwd=output_dir)
    return read_result(
        policy_file,
        output_dir,
        names,
        exit_code=outcome.exit_code,
        timed_out=outcome.timed_out,
        duration_s=outcome.duration_s,
        stderr=outcome.stderr,
        secrets=[access_token],
        read_only=read_only,
        timeout_s=timeout_s,
        dry_run=dry_run,
        api_calls=read_calls(calls_file),
    )


def launcher_options(
    endpoint: str,
    audience: str | None,
    *,
    as_of: datetime | None,
    read_only: bool,
    record_operations: Path | None,
    retry_total: int | None,
    retry_backoff_s: float | None,
    http_timeout: tuple[float, float] | None,
) -> list[str]:
    """The launcher's options for these settings (see `custodian.collect.c7n.launcher`)."""
    if as_of is not None and as_of.tzinfo is None:
        raise BadInputError("as_of must be a timezone-aware time")
    args = ["--arm-endpoint", endpoint]
    if audience:
        args += ["--token-audience", audience]
    if as_of is not None:
        args += ["--as-of", as_of.astimezone(UTC).isoformat()]
    if read_only:
        args.append("--read-only")
    if record_operations is not None:
        args += ["--record-operations", str(record_operations.resolve())]
    if retry_total is not None:
        args += ["--retry-total", str(int(retry_total))]
    if retry_backoff_s is not None:
        args += ["--retry-backoff", f"{float(retry_backoff_s):g}"]
    if http_timeout is not None:
        args += ["--http-timeout", f"{float(http_timeout[0]):g},{float(http_timeout[1]):g}"]
    return args


def c7n_run_args(output_dir: Path, policy_file: Path, cache: Literal["off", "memory"], dry_run: bool) -> list[str]:
    """``custodian run``'s arguments: output directory, cache, dry run, the policy file."""
    cache_args = ["--cache", "memory"] if cache == "memory" else ["--cache-period", "0"]
    return ["run", "-s", str(output_dir), *cache_args, *(["--dryrun"] if dry_run else []), str(policy_file)]


def prepare_output(output_dir: Path, names: Sequence[str]) -> None:
    """Create `output_dir` 0700 and remove the output files of the policies about to run."""
    make_private_dirs(output_dir)  # 0700; the child's umask keeps what c7n writes in it owner-only
    for name in names:  # a file found after the run must be this run's
        for stale in ("resources.json", "metadata.json"):
            (output_dir / name / stale).unlink(missing_ok=True)


def validate_policies(policy_file: Path, *, timeout_s: float = 120.0) -> list[str]:
    """Lint `policy_file` with ``custodian validate`` (offline, in a subprocess); [] when it is valid."""
    policy_file = policy_file.resolve()
    if not policy_file.is_file():
        return [f"policy file {policy_file} does not exist"]
    outcome = run_child(launcher_command([], ["validate", str(policy_file)]), child_env(None), timeout_s, cwd=None)
    if outcome.timed_out:
        return [f"custodian validate did not finish within {timeout_s:g}s and was killed"]
    if outcome.exit_code == 0:
        return []
    header = f"Configuration invalid: {policy_file}"
    problems = [
        message
        for level, message in log_records(outcome.stderr)
        if level in ("ERROR", "CRITICAL") and message.strip() != header
    ]
    if not problems:
        problems = [f"custodian validate exited with code {outcome.exit_code}: {tail(outcome.stderr, lines=6)}"]
    return problems


# -- the child process ---------------------------------------------------------------------------
def launcher_command(launcher_args: Sequence[str], c7n_args: Sequence[str]) -> list[str]:
    # -I: the launcher is imported from the installed package, never from the working directory,
    # and no PYTHON* variable of the parent changes how the child runs; -X utf8 fixes the encoding.
    return [sys.executable, "-I", "-X", "utf8", "-m", LAUNCHER_MODULE, *launcher_args, "--", *c7n_args]


def child_env(extra_env: Mapping[str, str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in (extra_env or {}).items():
        if key.upper() in MANAGED_ENV:
            raise BadInputError(f"extra_env may not set {key}: run_policies manages it")
        env[key] = value
    return env
