"""The reliability recorder: tests write the facts they measured; `tests/reliability_md.py` renders them.

Recording is off unless `RC_RELIABILITY_DIR` names a directory: then every call appends one JSON
line to `<dir>/<worker>-<pid>.jsonl` (one file per pytest-xdist worker and process, so parallel
workers never share a file). `make reliability` sets it and renders `RELIABILITY.md`.

What is recorded (the `kind` of each line):

- `fault`: a fault injected (its kind, where, the plan) and what the run did about it;
- `crash`: a SIGKILL trial (seed/trial number, kill point, victim, outcome);
- `concurrent`: a run of two or more applied runs on one ledger (backend, outcome);
- `hypothesis`: examples a property test ran, with the invariants each example checks
  (counted in memory, written at the end of the session or of the process);
- `bad_input`: one case of the bad-input corpus (kind, case, message, exit code);
- `requests`: mutating requests per target counted from an emulator's request log, how many of them
  went to a target twice and how many touched an object that must not be touched.

A test records *before* it asserts, so that a regression shows as a non-zero figure in the report
beside the failing test. Loaded as a plugin (`pytest -p tests.reliability`) its session hook
writes the hypothesis tallies; without it they are written at process exit.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ENV = "RC_RELIABILITY_DIR"
MUTATING = frozenset({"PUT", "PATCH", "POST", "DELETE"})

_lock = threading.Lock()
_examples: Counter[str] = Counter()
_measured: defaultdict[str, Counter[str]] = defaultdict(Counter)
_invariants: dict[str, list[str]] = {}


def is_mutation(request: Any) -> bool:
    """A request that changes something: PUT, PATCH, POST, DELETE; a POST to a GraphQL endpoint is a query
    (the GitHub emulator's `/api/graphql` serves queries only)."""
    return request.method in MUTATING and not (request.method == "POST" and request.path.endswith("/graphql"))


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def _target() -> Path | None:
    directory = os.environ.get(ENV)
    if not directory:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    return path / f"{worker}-{os.getpid()}.jsonl"


def _test_id() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    return current.rsplit(" (", 1)[0]


def record(kind: str, **fields: Any) -> None:
    """Append one fact (a JSON object with `kind`, `test` and `at`) when recording is on."""
    path = _target()
    if path is None:
        return
    line = json.dumps({"kind": kind, "test": _test_id(), "at": time.time(), **fields}, default=str, sort_keys=True)
    with _lock, path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def example(test: str, invariants: Iterable[str]) -> None:
    """Count one hypothesis example of `test` (each example checks every one of `invariants`)."""
    if not enabled():
        return
    with _lock:
        _examples[test] += 1
        _invariants.setdefault(test, list(invariants))


def measure(test: str, *, twice: int = 0, wrong: int = 0) -> None:
    """Add what an example of `test` measured: mutations sent a second time, objects wrongly acted on."""
    if not enabled():
        return
    with _lock:
        _measured[test].update(twice=twice, wrong=wrong)


def flush() -> None:
    """Write the example tallies counted so far (and forget them)."""
    with _lock:
        tallies, measured = dict(_examples), {k: dict(v) for k, v in _measured.items()}
        _examples.clear()
        _measured.clear()
    for test, count in sorted(tallies.items()):
        extra = measured.get(test, {})
        record(
            "hypothesis",
            property=test,
            examples=count,
            invariants=_invariants.get(test, []),
            twice=extra.get("twice", 0),
            wrong=extra.get("wrong", 0),
        )


atexit.register(flush)


def pytest_sessionfinish(session: object, exitstatus: object) -> None:
    """The plugin hook (`-p tests.reliability`): the tallies are written before the worker ends."""
    flush()


def request_counts(
    requests: Iterable[Any], *, wrong: Any = None, ignore: Any = None
) -> tuple[dict[str, int], int, int]:
    """(mutations per target, mutations that reached a target more than once, mutations that were wrong).

    `requests` are emulator request records (`method`, `path`, `fault`); `ignore(record)` leaves out
    requests that were never carried out (e.g. answered by a test's kill hook); `wrong(record)` says
    whether a mutation touched an object the run must not touch.
    """
    per_target: Counter[str] = Counter()
    wrongs = 0
    for r in requests:
        if not is_mutation(r) or (ignore is not None and ignore(r)):
            continue
        per_target[f"{r.method} {r.path.lower()}"] += 1
        if wrong is not None and wrong(r):
            wrongs += 1
    twice = sum(n - 1 for n in per_target.values() if n > 1)
    return dict(per_target), twice, wrongs


def record_requests(
    what: str, requests: Iterable[Any], *, wrong: Any = None, ignore: Any = None, **fields: Any
) -> tuple[int, int]:
    """Record the mutating requests of one emulator log; returns (sent twice, wrongly acted on)."""
    per_target, twice, wrongs = request_counts(requests, wrong=wrong, ignore=ignore)
    record(
        "requests",
        what=what,
        mutations=sum(per_target.values()),
        targets=len(per_target),
        twice=twice,
        wrong=wrongs,
        **fields,
    )
    return twice, wrongs


def load(directory: Path) -> list[Mapping[str, Any]]:
    """Every fact recorded under `directory`, oldest first."""
    facts: list[Mapping[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                facts.append(json.loads(line))
    return sorted(facts, key=lambda f: float(f.get("at", 0)))
