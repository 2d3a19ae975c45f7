"""The launcher's batch mode: one c7n process runs the policies for many subscriptions, one after another.

``python -m custodian.collect.c7n.launcher [options] --batch FD --`` (normally started by
`custodian.collect.c7n.batch`, never by hand): the process imports c7n once (the 1-1.7 s start-up a
child per subscription paid each time), then reads jobs from stdin, one JSON line each::

    {"subscription": "...", "token": "...", "timeout_s": 900, "log": "OUT/c7n.log",
     "c7n_args": ["run", "-s", "OUT", ...]}

and answers each on file descriptor FD, one JSON line when the job is over::

    {"subscription": "...", "exit_code": 0, "timed_out": false, "calls": {"GET": 12}, "duration_s": 1.2}

Stdin's end means no more jobs. The parent sends a job only after the previous answer, with a token
it minted right then, so a batch longer than a token's lifetime keeps working.

Each job starts clean: ``AZURE_SUBSCRIPTION_ID`` and ``AZURE_ACCESS_TOKEN`` are set for it (c7n-azure
reads them), c7n's thread-local sessions are dropped (``c7n.utils.reset_session_cache``: a session
is bound to a subscription) and c7n's in-memory resource cache is emptied (its state is shared by
every ``InMemoryCache`` of the process, keyed without the subscription: left alone, the second
subscription would be served the first one's listings). Its log records (c7n's format) go to the
job's own ``log`` file, so what one subscription logged is read back for it alone, and so are the
read-only guard's refusals and the request counts (the difference over the job).

A job has its own deadline (``timeout_s``, ``SIGALRM``): past it, `JobDeadline` (a BaseException,
which c7n's per-policy ``except Exception`` does not swallow) ends that job; the answer says
``timed_out`` and the next job runs. The parent still kills the whole process group when an answer
does not come in time (then it starts a fresh child for the jobs left).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # at run time this module is imported by the launcher running as __main__
    from custodian.collect.c7n.launcher import WireGuard

__all__ = ["JobDeadline", "run_batch"]

_FORMAT = "%(asctime)s: %(name)s:%(levelname)s %(message)s"  # c7n's own (c7n.cli._setup_logger)
_LOG = "custodian.collect.c7n.launcher"


class JobDeadline(BaseException):
    """The job's own deadline passed (BaseException: c7n's per-policy handlers must not catch it)."""


def _jobs(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for line in stream:
        if line.strip():
            job = json.loads(line)
            if not isinstance(job, dict):
                raise ValueError("a batch job must be a JSON object")
            yield job


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise JobDeadline()


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _run_one(job: dict[str, Any], guard: WireGuard, read_only_exit: int) -> dict[str, Any]:
    from c7n import cli
    from c7n.cache import InMemoryCache
    from c7n.utils import reset_session_cache

    os.environ["AZURE_SUBSCRIPTION_ID"] = str(job["subscription"])
    os.environ["AZURE_ACCESS_TOKEN"] = str(job["token"])
    reset_session_cache()
    InMemoryCache._InMemoryCache__shared_state.clear()
    root = logging.getLogger()
    handler = logging.FileHandler(str(job["log"]), mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    calls_before, refused_before = dict(guard.calls), len(guard.refused)
    args = [str(a) for a in job["c7n_args"]]
    sys.argv = ["custodian", *args]  # c7n names its process after argv
    started, exit_code, timed_out = time.monotonic(), 0, False
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, float(job["timeout_s"]))
    try:
        cli.main(args)
    except SystemExit as exc:
        exit_code = _exit_code(exc.code)
    except JobDeadline:
        timed_out = True
        logging.getLogger(_LOG).error("c7n did not finish within %ss: the job was stopped", job["timeout_s"])
    except Exception:  # this job failed (logged with its traceback); the next one runs
        exit_code = 1
        logging.getLogger(_LOG).exception("c7n failed")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    refused = guard.refused[refused_before:]
    for refusal in refused:  # as the single-run launcher reports them: ERROR records, its exit code
        logging.getLogger(_LOG).error("read-only: refused %s", refusal)
    if refused and not timed_out:
        exit_code = read_only_exit
    root.removeHandler(handler)
    handler.close()
    calls = {m: n - calls_before.get(m, 0) for m, n in guard.calls.items() if n - calls_before.get(m, 0)}
    return {
        "subscription": job["subscription"],
        "exit_code": exit_code,
        "timed_out": timed_out,
        "calls": calls,
        "duration_s": round(time.monotonic() - started, 3),
    }


def run_batch(guard: WireGuard, answers_fd: int, read_only_exit: int) -> None:
    """Run every job read from stdin; answer each on `answers_fd` (see the module docstring)."""
    logging.getLogger().setLevel(logging.INFO)  # c7n's default level; its basicConfig then adds nothing
    logging.getLogger().addHandler(logging.NullHandler())  # records go to each job's log file only
    with os.fdopen(answers_fd, "w", encoding="utf-8", buffering=1) as answers:
        for job in _jobs(sys.stdin):
            answers.write(json.dumps(_run_one(job, guard, read_only_exit), sort_keys=True) + "\n")
            answers.flush()
