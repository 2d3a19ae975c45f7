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

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from custodian.collect.c7n.child import run_child
from custodian.collect.c7n.launcher import READ_ONLY_EXIT, normalise_endpoint
from custodian.errors import BadInputError
from custodian.private_files import make_private_dirs

__all__ = [
    "C7nRunError",
    "PolicyOutput",
    "PolicyRunResult",
    "policy_names",
    "run_policies",
    "validate_policies",
]

LAUNCHER_MODULE = "custodian.collect.c7n.launcher"
MANAGED_ENV = ("AZURE_ACCESS_TOKEN", "AZURE_SUBSCRIPTION_ID", "REQUESTS_CA_BUNDLE")
_TAIL_LINES = 60
_TAIL_CHARS = 8000
_REDACTED = "***"
# c7n's log format: "2026-01-02 03:04:05,678: custodian.commands:ERROR message"
_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}: (?P<logger>\S+?):(?P<level>[A-Z]+) (?P<message>.*)$")
_ERRORED_HEADER = "The following policies had errors while executing"
_POLICY_ERROR = re.compile(r"^Error while executing policy (?P<name>.+?), continuing$", re.MULTILINE)


class C7nRunError(RuntimeError):
    """A c7n run failed; the message lists every reason (see `PolicyRunResult.check`)."""


@dataclass(frozen=True)
class PolicyOutput:
    """What one policy left in ``output_dir/<name>/`` (None where a file is missing or unreadable)."""

    name: str
    directory: Path
    resources: list[dict[str, Any]] | None
    metadata: dict[str, Any] | None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def resource_ids(self) -> list[str]:
        """The ARM ids of the matched resources (empty when `resources` is unavailable)."""
        return [str(r.get("id", "")) for r in self.resources or []]


@dataclass(frozen=True)
class PolicyRunResult:
    """The outcome of one `run_policies` call; `ok` only when every policy produced its output."""

    policy_file: Path
    output_dir: Path
    dry_run: bool
    exit_code: int | None  # None when the child was killed after the timeout
    timed_out: bool
    duration_s: float
    stderr_tail: str
    policies: tuple[PolicyOutput, ...]
    problems: tuple[str, ...]
    api_calls: Mapping[str, int] = field(default_factory=dict)  # requests c7n sent, by HTTP method

    @property
    def ok(self) -> bool:
        return not self.problems

    def policy(self, name: str) -> PolicyOutput:
        for output in self.policies:
            if output.name == name:
                return output
        raise KeyError(f"policy '{name}' is not in {self.policy_file}")

    def check(self) -> PolicyRunResult:
        """Return self when the run is ok; otherwise raise `C7nRunError` naming every problem."""
        if self.problems:
            details = "\n".join(f"- {p}" for p in self.problems)
            raise C7nRunError(f"c7n run of {self.policy_file} failed:\n{details}\nstderr (tail):\n{self.stderr_tail}")
        return self


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
    make_private_dirs(output_dir)  # 0700; the child's umask keeps what c7n writes in it owner-only
    for name in names:  # a file found after the run must be this run's
        for stale in ("resources.json", "metadata.json"):
            (output_dir / name / stale).unlink(missing_ok=True)

    env = _child_env(extra_env)
    env.update({"AZURE_ACCESS_TOKEN": access_token, "AZURE_SUBSCRIPTION_ID": subscription_id.strip()})
    if ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = ca_bundle
    if as_of is not None and as_of.tzinfo is None:
        raise BadInputError("as_of must be a timezone-aware time")
    launcher_args = ["--arm-endpoint", endpoint]
    if audience:
        launcher_args += ["--token-audience", audience]
    if as_of is not None:
        launcher_args += ["--as-of", as_of.astimezone(UTC).isoformat()]
    if read_only:
        launcher_args.append("--read-only")
    if record_operations is not None:
        launcher_args += ["--record-operations", str(record_operations.resolve())]
    if retry_total is not None:
        launcher_args += ["--retry-total", str(int(retry_total))]
    if retry_backoff_s is not None:
        launcher_args += ["--retry-backoff", f"{float(retry_backoff_s):g}"]
    if http_timeout is not None:
        launcher_args += ["--http-timeout", f"{float(http_timeout[0]):g},{float(http_timeout[1]):g}"]
    calls_file = output_dir / "c7n-api-calls.json"
    calls_file.unlink(missing_ok=True)
    launcher_args += ["--count-calls", str(calls_file)]
    cache_args = ["--cache", "memory"] if cache == "memory" else ["--cache-period", "0"]
    c7n_args = ["run", "-s", str(output_dir), *cache_args, *(["--dryrun"] if dry_run else []), str(policy_file)]
    outcome = run_child(_command(launcher_args, c7n_args), env, timeout_s, cwd=output_dir)

    secrets = [access_token]
    stderr = _redact(outcome.stderr, secrets)
    errored = _errored_policies(stderr)
    problems: list[str] = []
    if outcome.timed_out:
        problems.append(f"c7n did not finish within {timeout_s:g}s and was killed")
    elif outcome.exit_code == READ_ONLY_EXIT and read_only:
        refused = [m for level, m in _log_records(stderr) if level == "ERROR" and m.startswith("read-only: refused ")]
        problems.append(
            f"c7n tried {len(refused)} mutating request(s) in a read-only run (refused before sending): "
            + "; ".join(m.removeprefix("read-only: refused ") for m in refused[:5])
        )
    elif outcome.exit_code != 0:
        hint = f"policies with errors: {', '.join(sorted(errored))}" if errored else _first_error(stderr)
        problems.append(f"c7n exited with code {outcome.exit_code}: {hint}")
    outputs = tuple(_read_output(output_dir, name, errored, secrets) for name in names)
    for output in outputs:
        problems.extend(output.problems)
    return PolicyRunResult(
        policy_file=policy_file,
        output_dir=output_dir,
        dry_run=dry_run,
        exit_code=outcome.exit_code,
        timed_out=outcome.timed_out,
        duration_s=outcome.duration_s,
        stderr_tail=_tail(stderr),
        policies=outputs,
        problems=tuple(problems),
        api_calls=_read_calls(calls_file),
    )


def _read_calls(path: Path) -> dict[str, int]:
    """The launcher's request counts (empty when the child died before writing them)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


def validate_policies(policy_file: Path, *, timeout_s: float = 120.0) -> list[str]:
    """Lint `policy_file` with ``custodian validate`` (offline, in a subprocess); [] when it is valid."""
    policy_file = policy_file.resolve()
    if not policy_file.is_file():
        return [f"policy file {policy_file} does not exist"]
    outcome = run_child(_command([], ["validate", str(policy_file)]), _child_env(None), timeout_s, cwd=None)
    if outcome.timed_out:
        return [f"custodian validate did not finish within {timeout_s:g}s and was killed"]
    if outcome.exit_code == 0:
        return []
    header = f"Configuration invalid: {policy_file}"
    problems = [
        message
        for level, message in _log_records(outcome.stderr)
        if level in ("ERROR", "CRITICAL") and message.strip() != header
    ]
    if not problems:
        problems = [f"custodian validate exited with code {outcome.exit_code}: {_tail(outcome.stderr, lines=6)}"]
    return problems


# -- the child process ---------------------------------------------------------------------------
def _command(launcher_args: Sequence[str], c7n_args: Sequence[str]) -> list[str]:
    # -I: the launcher is imported from the installed package, never from the working directory,
    # and no PYTHON* variable of the parent changes how the child runs; -X utf8 fixes the encoding.
    return [sys.executable, "-I", "-X", "utf8", "-m", LAUNCHER_MODULE, *launcher_args, "--", *c7n_args]


def _child_env(extra_env: Mapping[str, str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in (extra_env or {}).items():
        if key.upper() in MANAGED_ENV:
            raise BadInputError(f"extra_env may not set {key}: run_policies manages it")
        env[key] = value
    return env


# -- reading what c7n left behind -----------------------------------------------------------------
def _read_output(output_dir: Path, name: str, errored: Mapping[str, str], secrets: Sequence[str]) -> PolicyOutput:
    directory = output_dir / name
    problems: list[str] = []
    if name in errored:
        problems.append(f"policy '{name}': c7n failed while executing it: {errored[name] or 'see stderr'}")
    resources_raw, problem = _read_json(directory / "resources.json")
    resources: list[dict[str, Any]] | None = None
    if problem:
        problems.append(f"policy '{name}': {problem}")
    elif not isinstance(resources_raw, list) or not all(isinstance(r, dict) for r in resources_raw):
        problems.append(f"policy '{name}': resources.json is not a list of objects")
    else:
        resources = resources_raw
    metadata_raw, problem = _read_json(directory / "metadata.json")
    metadata: dict[str, Any] | None = None
    if problem:
        problems.append(f"policy '{name}': {problem}")
    elif not isinstance(metadata_raw, dict):
        problems.append(f"policy '{name}': metadata.json is not an object")
    else:
        metadata = metadata_raw
    return PolicyOutput(name, directory, resources, metadata, tuple(_redact(p, secrets) for p in problems))


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, f"{path.name} is missing (c7n wrote no output for it)"
    except OSError as exc:
        return None, f"{path.name} cannot be read: {exc.strerror or exc}"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"{path.name} is not valid JSON: {exc}"


def _log_records(stderr: str) -> list[tuple[str, str]]:
    """(level, message) of each c7n log record; continuation lines join their record."""
    records: list[tuple[str, str]] = []
    for line in stderr.splitlines():
        match = _LOG_RECORD.match(line)
        if match:
            records.append((match["level"], match["message"]))
        elif records:
            level, message = records[-1]
            records[-1] = (level, f"{message}\n{line}")
    return records


def _errored_policies(stderr: str) -> dict[str, str]:
    """Policies c7n reports as errored, each with the exception that stopped it (when logged)."""
    errored: dict[str, str] = {}
    for level, message in _log_records(stderr):
        if level != "ERROR":
            continue
        match = _POLICY_ERROR.match(message)
        if match:
            errored[match["name"]] = _exception_line(message)
        elif message.startswith(_ERRORED_HEADER):
            for line in message.splitlines()[1:]:
                if line.strip().startswith("- "):
                    errored.setdefault(line.strip()[2:], "")
    return errored


def _exception_line(record: str) -> str:
    """The final exception of a logged traceback (`Type: message`), or '' when there is none."""
    lines = record.splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    if not frames:
        return ""
    for line in lines[frames[-1] + 1 :]:
        if line.strip() and not line.startswith((" ", "\t")):
            return line.strip()
    return ""


def _first_error(stderr: str) -> str:
    errors = [m for level, m in _log_records(stderr) if level in ("ERROR", "CRITICAL")]
    if errors:
        return errors[0].splitlines()[0]
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output on stderr"


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text


def _tail(text: str, *, lines: int = _TAIL_LINES) -> str:
    tail = "\n".join(text.rstrip().splitlines()[-lines:])
    return tail[-_TAIL_CHARS:]
