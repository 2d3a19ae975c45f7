"""What a c7n run left behind, read back: `PolicyRunResult` (exit, problems, per-policy output).

`read_result` turns a finished (or killed) run into a result: a timeout, a non-zero exit, a policy
c7n reports as errored (from its log records), or a policy without a readable ``resources.json``
each add a reason to `PolicyRunResult.problems`; the access token is redacted from everything the
result holds. Used by `runner` (one subscription per child) and `batch` (one child for many).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custodian.collect.c7n.launcher import READ_ONLY_EXIT

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
    child_pid: int | None = None  # the c7n process that ran it (one per batch: `custodian.collect.c7n.batch`)

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


def read_result(
    policy_file: Path,
    output_dir: Path,
    names: Sequence[str],
    *,
    exit_code: int | None,
    timed_out: bool,
    duration_s: float,
    stderr: str,
    secrets: Sequence[str],
    read_only: bool,
    timeout_s: float,
    dry_run: bool,
    api_calls: Mapping[str, int],
    child_pid: int | None = None,
) -> PolicyRunResult:
    """The `PolicyRunResult` of a finished (or killed) c7n run: its problems and each policy's output."""
    stderr = _redact(stderr, secrets)
    errored = _errored_policies(stderr)
    problems: list[str] = []
    if timed_out:
        problems.append(f"c7n did not finish within {timeout_s:g}s and was killed")
    elif exit_code == READ_ONLY_EXIT and read_only:
        refused = [m for level, m in log_records(stderr) if level == "ERROR" and m.startswith("read-only: refused ")]
        problems.append(
            f"c7n tried {len(refused)} mutating request(s) in a read-only run (refused before sending): "
            + "; ".join(m.removeprefix("read-only: refused ") for m in refused[:5])
        )
    elif exit_code != 0:
        hint = f"policies with errors: {', '.join(sorted(errored))}" if errored else _first_error(stderr)
        problems.append(f"c7n exited with code {exit_code}: {hint}")
    outputs = tuple(_read_output(output_dir, name, errored, secrets) for name in names)
    for output in outputs:
        problems.extend(output.problems)
    return PolicyRunResult(
        policy_file=policy_file,
        output_dir=output_dir,
        dry_run=dry_run,
        exit_code=exit_code,
        timed_out=timed_out,
        duration_s=duration_s,
        stderr_tail=tail(stderr),
        policies=outputs,
        problems=tuple(problems),
        api_calls=dict(api_calls),
        child_pid=child_pid,
    )


def read_calls(path: Path) -> dict[str, int]:
    """The launcher's request counts (empty when the child died before writing them)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


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


def log_records(stderr: str) -> list[tuple[str, str]]:
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
    for level, message in log_records(stderr):
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
    errors = [m for level, m in log_records(stderr) if level in ("ERROR", "CRITICAL")]
    if errors:
        return errors[0].splitlines()[0]
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output on stderr"


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text


def tail(text: str, *, lines: int = _TAIL_LINES) -> str:
    tail = "\n".join(text.rstrip().splitlines()[-lines:])
    return tail[-_TAIL_CHARS:]
