"""Run c7n policies for many subscriptions in ONE child process (not one process per subscription).

`run_policies_batch` starts ``python -I -m custodian.collect.c7n.launcher [options] --batch FD --``
once (the launcher's batch mode, `custodian.collect.c7n.launcher_batch`) and hands it the
subscriptions one at a time: a job line on the child's stdin (subscription, a token minted right
then by `token_for`, the deadline, the ``custodian run`` arguments), then it waits for the child's
answer on a pipe of its own. Each subscription still gets what `runner.run_policies` gives one:

- its own output directory (0700, stale outputs removed), read back into its own `PolicyRunResult`
  with its own problems (from its own log file, `results.read_result`): one failed subscription
  (a listing that 500s, a refused write, its deadline) makes only that result fail;
- its own fresh ARM token, minted just before its job starts (a token failure is that
  subscription's error, returned as the exception, and the next one runs);
- its own deadline (`timeout_s`): the child stops the job itself (SIGALRM); when no answer comes
  within the deadline plus `ANSWER_GRACE_S`, or the child dies, its process group is killed, that
  subscription is reported timed out or failed, and a fresh child runs the subscriptions left.

The child's environment is built fresh as in `runner` (``REQUESTS_CA_BUNDLE`` and `extra_env`
only; the token and subscription arrive per job on stdin, never on the command line), it runs in
its own process group, dies with its parent and is killed on any interruption (`child`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from custodian.collect.c7n.child import kill_group, spawn
from custodian.collect.c7n.launcher import normalise_endpoint
from custodian.collect.c7n.results import PolicyRunResult, read_result
from custodian.collect.c7n.runner import (
    c7n_run_args,
    child_env,
    launcher_command,
    launcher_options,
    policy_names,
    prepare_output,
)
from custodian.errors import BadInputError

__all__ = ["ANSWER_GRACE_S", "BatchOutcome", "run_policies_batch"]

ANSWER_GRACE_S = 30.0  # how long past a job's deadline the parent waits for the child's own answer
JOB_LOG = "c7n.log"  # each subscription's c7n log records, in its output directory
BatchOutcome = PolicyRunResult | Exception  # an exception: the job could not start (its token)


class _Child:
    """One batch child: jobs on its stdin, answers on a pipe, stderr drained in a thread."""

    def __init__(self, argv_without_fd: Callable[[int], list[str]], env: dict[str, str], cwd: Path) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self.process = spawn(argv_without_fd(write_fd), env, cwd=cwd, stdin=subprocess.PIPE, pass_fds=(write_fd,))
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._answers = read_fd
        self._buffer = b""
        self.stderr: list[str] = []
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            if len(self.stderr) > 400:
                del self.stderr[:200]
        if self.process.stdout is not None:
            with contextlib.suppress(OSError, ValueError):
                self.process.stdout.read()

    def send(self, job: Mapping[str, Any]) -> bool:
        """Write one job line; False when the child is gone."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(job) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def answer(self, timeout_s: float) -> dict[str, Any] | None:
        """The next answer line, or None on timeout or when the child closed the pipe (it died)."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._answers], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._answers, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer = json.loads(line.decode("utf-8"))
        return answer if isinstance(answer, dict) else None

    def close(self, *, kill: bool) -> int | None:
        """End the child (close its stdin: no more jobs; kill its group if asked or if it lingers)."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.process.stdin.close()
        if not kill:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill = True
        kill_group(self.process)  # whatever it left running in its group goes with it
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        os.close(self._answers)
        self._drain.join(timeout=5)
        return self.process.returncode


def run_policies_batch(
    policy_file: Path,
    jobs: Sequence[tuple[str, Path]],
    *,
    arm_endpoint: str,
    token_for: Callable[[str], str],
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
    on_result: Callable[[str, BatchOutcome], None] | None = None,
) -> dict[str, BatchOutcome]:
    """Run every policy of `policy_file` for each (subscription, output directory) of `jobs`, in one child.

    The options mean what they mean for `runner.run_policies`; `timeout_s` is each subscription's
    deadline. Returns each subscription's result (or the exception that kept its job from starting);
    `on_result` is called with each as soon as it is known, before the next job's token is minted.
    Raises `BadInputError` for an unreadable policy file or a malformed endpoint/argument.
    """
    if timeout_s <= 0:
        raise BadInputError(f"timeout_s must be positive, got {timeout_s}")
    if len({s.strip().lower() for s, _ in jobs}) != len(jobs) or any(not s.strip() for s, _ in jobs):
        raise BadInputError("each subscription of a batch must be given once, and none may be empty")
    try:
        endpoint = normalise_endpoint(arm_endpoint)
        audience = normalise_endpoint(token_audience) if token_audience else None
    except ValueError as exc:
        raise BadInputError(str(exc)) from exc
    policy_file = policy_file.resolve()
    names = policy_names(policy_file)
    options = launcher_options(
        endpoint,
        audience,
        as_of=as_of,
        read_only=read_only,
        record_operations=record_operations,
        retry_total=retry_total,
        retry_backoff_s=retry_backoff_s,
        http_timeout=http_timeout,
    )
    env = child_env(extra_env)
    if ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = ca_bundle
    pending = [(s.strip(), out.resolve()) for s, out in jobs]
    for _, out in pending:
        prepare_output(out, names)
    results: dict[str, BatchOutcome] = {}
    stored = _Results(results, on_result)
    while pending:
        child = _Child(lambda fd: launcher_command([*options, "--batch", str(fd)], []), env, pending[0][1])
        killed = False
        try:
            killed = _feed(child, pending, stored, names, policy_file, token_for, timeout_s, read_only, dry_run)
        except BaseException:  # interrupted: the child never outlives us
            child.close(kill=True)
            raise
        child.close(kill=killed)
    return results


class _Results:
    """The batch's results so far; each one handed to `on_result` as it is stored."""

    def __init__(self, into: dict[str, BatchOutcome], on_result: Callable[[str, BatchOutcome], None] | None) -> None:
        self._into, self._on_result = into, on_result

    def __setitem__(self, subscription: str, outcome: BatchOutcome) -> None:
        self._into[subscription] = outcome
        if self._on_result is not None:
            self._on_result(subscription, outcome)


def _feed(
    child: _Child,
    pending: list[tuple[str, Path]],
    results: _Results,
    names: Sequence[str],
    policy_file: Path,
    token_for: Callable[[str], str],
    timeout_s: float,
    read_only: bool,
    dry_run: bool,
) -> bool:
    """Hand `pending` jobs to `child` one at a time; True when the child had to be killed (restart)."""
    while pending:
        subscription, out = pending.pop(0)
        try:
            token = token_for(subscription)
        except Exception as exc:  # noqa: BLE001 - this subscription's error; the next one runs
            results[subscription] = exc
            continue
        log = out / JOB_LOG
        log.unlink(missing_ok=True)
        job = {
            "subscription": subscription,
            "token": token,
            "timeout_s": timeout_s,
            "log": str(log),
            "c7n_args": c7n_run_args(out, policy_file, "memory", dry_run),
        }
        started = time.monotonic()
        answer = child.answer(timeout_s + ANSWER_GRACE_S) if child.send(job) else None
        duration = time.monotonic() - started
        if answer is None or answer.get("subscription") != subscription:
            exit_code = child.process.poll()
            results[subscription] = _result(
                policy_file, out, names, token, timeout_s, read_only, dry_run, child,
                exit_code=exit_code, timed_out=exit_code is None, duration_s=duration, calls={},
            )  # fmt: skip
            return True
        calls = answer.get("calls") if isinstance(answer.get("calls"), dict) else {}
        assert isinstance(calls, dict)
        results[subscription] = _result(
            policy_file, out, names, token, timeout_s, read_only, dry_run, child,
            exit_code=int(answer.get("exit_code", 1)), timed_out=bool(answer.get("timed_out")),
            duration_s=float(answer.get("duration_s", duration)), calls={str(k): int(v) for k, v in calls.items()},
        )  # fmt: skip
    return False


def _result(
    policy_file: Path,
    out: Path,
    names: Sequence[str],
    token: str,
    timeout_s: float,
    read_only: bool,
    dry_run: bool,
    child: _Child,
    *,
    exit_code: int | None,
    timed_out: bool,
    duration_s: float,
    calls: Mapping[str, int],
) -> PolicyRunResult:
    try:
        log = (out / JOB_LOG).read_text(encoding="utf-8", errors="replace")
    except OSError:
        log = ""
    if not log.strip():  # the child died or hung before this job logged anything: its own stderr says why
        log = "".join(child.stderr[-60:])
    return read_result(
        policy_file,
        out,
        names,
        exit_code=exit_code,
        timed_out=timed_out,
        duration_s=duration_s,
        stderr=log,
        secrets=[token],
        read_only=read_only,
        timeout_s=timeout_s,
        dry_run=dry_run,
        api_calls=calls,
        child_pid=child.process.pid,
    )
