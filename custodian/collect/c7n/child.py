"""A c7n child process that dies with its parent: own process group, parent-death signal, group kill.

`run_child` starts the child in a session (and so a process group) of its own. On Linux the child
also asks the kernel (`prctl(PR_SET_PDEATHSIG, SIGKILL)`, through ctypes, between fork and exec) to
be killed when the thread that started it ends, so a parent killed with `kill -9` takes the child
with it. Whatever ends the wait early (the timeout, Ctrl-C, SIGTERM turned into an exception, any
error) kills the whole group before the exception goes on: no c7n process outlives the run that
started it. The children only select (``--dryrun --read-only``, see `runner`), and even that stops
with the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from custodian.private_files import CHILD_UMASK

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ChildOutcome:
    exit_code: int | None  # None when the child was killed after the timeout
    timed_out: bool
    stdout: str
    stderr: str
    duration_s: float


def parent_death_signal() -> Callable[[], None] | None:
    """A `preexec_fn` setting SIGKILL as the parent-death signal (Linux), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:  # runs in the child between fork and exec: no locks, no allocation-heavy work
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return arm


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the child's process group (it may have ended already)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def spawn(
    argv: list[str],
    env: dict[str, str],
    *,
    cwd: Path | None,
    stdin: int | None = subprocess.DEVNULL,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[str]:
    """Start `argv` in a session of its own, with the parent-death signal and umask 077 (see above)."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,  # its own process group, so a kill reaches whatever it started
        preexec_fn=parent_death_signal(),
        umask=CHILD_UMASK,  # c7n's output (resources.json, logs) created 0600/0700
        pass_fds=pass_fds,
    )


def run_child(argv: list[str], env: dict[str, str], timeout_s: float, *, cwd: Path | None) -> ChildOutcome:
    """Run `argv` to its end or `timeout_s`; its group is killed on timeout and on any interruption."""
    started = time.monotonic()
    process = spawn(argv, env, cwd=cwd)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(process)
        stdout, stderr = process.communicate()
        return ChildOutcome(None, True, stdout, stderr, time.monotonic() - started)
    except BaseException:  # interrupted (Ctrl-C, SIGTERM, an error): the child never outlives us
        kill_group(process)
        with contextlib.suppress(Exception):
            process.communicate(timeout=5)
        raise
    kill_group(process)  # anything it left running in its group goes with it
    return ChildOutcome(process.returncode, False, stdout, stderr, time.monotonic() - started)
