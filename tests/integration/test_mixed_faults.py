"""Convergence under mixed faults: the seed sandbox, every emulator faulted at once, reaches the fault-free end state.

Both emulators (ARM and GitHub) answer 10% of requests 429 (`Retry-After: 1`), 5% with a 5xx, cut 5% of list
pages short (no next link), drop 2% of connections after carrying the request out, and add 20 ms to every
answer, each from its own deterministic seed. `enforce --apply` runs up to four times under those faults (then
once more with the faults off, if it has not converged yet); its end state is compared with a fault-free run's on a
second fresh sandbox:

- the same objects remain in both emulators' stores (ARM resource ids, ACR token status and credential names;
  GitHub users with their suspension and admin flags, org members, impersonation tokens, PAT grants, SSH keys);
- no mutating request was carried out on a target more often than the fault-free run carried it out (counted
  from the request logs: PUT/PATCH/POST/DELETE but not GraphQL, only answers the handler gave 2xx, a dropped
  answer included since the request was carried out);
- no object outside the fault-free run's acted-on targets was mutated;
- no action was journaled DONE twice over the runs.

`RC_FAULT_SEEDS=N` runs N seeds (1 in CI); each seed records a "mixed faults" row in RELIABILITY.md's fault table
and its request counts.

A double mutation the trials found (seed 5: an ARM DELETE whose answer was dropped was re-sent by azure-core's
retry policy, and ARM carried it out twice) is made deterministic by
`test_a_delete_whose_answer_was_dropped_is_carried_out_once` (every answer to one DELETE dropped), for ARM and
GitHub; the SDK's re-send is fixed by `custodian.providers.azure.clients.ReadRetryPolicy` (it retries reads
only); what is left (LOST_ANSWER_RESENT: the next run re-sends a DELETE whose answer was lost while its
operation still runs) is fixed by the gateways: a DELETE whose answer was lost is watched (journaled accepted,
re-read until gone), never sent again.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from custodian.commands.sandbox_holds import place_scenario_holds
from custodian.ledger.store import Ledger
from custodian.model import ActionOutcome, RunMode
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.httpserver import EmulatorServer, RequestRecord
from custodian.sandbox.runtime import Sandbox
from custodian.sandbox.scenario import load_scenario
from tests import reliability
from tests.integration.conftest import Env, bind_config

pytestmark = pytest.mark.slow

SEEDS = list(range(1, int(os.environ.get("RC_FAULT_SEEDS", "1")) + 1))
SUB = "11111111-1111-4111-8111-111111111111"
ACR_TOKEN = (  # deleted by the fault-free run (v0.0.1 has left qa)
    f"/subscriptions/{SUB}/resourceGroups/rg-release-registries/providers/Microsoft.ContainerRegistry"
    "/registries/qasecureregistry/tokens/v0-0-1-qa-acr-sa"
)
GH_USER = "/api/v3/admin/users/v0-0-1-qa-gh-sa"  # deleted by the fault-free run
RESENT_DELETE = (
    "azure-core's RetryPolicy re-sends a DELETE whose answer was lost (a read error; DELETE is in its default "
    "retry_on_methods), so ARM carries the same DELETE out again: found by the mixed-fault trial, seed 5, run 1 "
    "(DELETE .../qasecureregistry/tokens/v0-0-1-qa-acr-sa answered 202 and dropped, re-sent 40 ms later, 202 again)"
)
LOST_ANSWER_RESENT = (
    "an ARM DELETE whose answer was lost is journaled FAILED after its re-read (the token is still there while "
    "its operation runs, 10 s in the emulator), and the next run, seconds later, sends it again: a lost answer "
    "should be journaled like an accepted request (watched by the next run, not re-sent); fixed: the gateways "
    "watch such a DELETE (TokenGoneWatch, GoneWatch). The SDK's own re-send (RESENT_DELETE): clients.ReadRetryPolicy"
)
MAX_FAULTED_RUNS = 4
NOT_CARRIED_OUT = frozenset({"throttle", "server_error"})  # answered by the fault layer, never dispatched


def plan(seed: int) -> FaultPlan:
    """The issue's rates: 10% 429, 5% 5xx, 5% truncated pages, dropped connections, 20 ms latency."""
    return FaultPlan(
        throttle=0.10, server_error=0.05, truncate=0.05, drop=0.02, latency_ms=20, retry_after=1, seed=seed
    )


@contextmanager
def fresh_env(tmp: Path) -> Iterator[Env]:
    """A seed sandbox with its holds placed and its logs cleared (as `seed_env`), bound for this block only
    (the sandbox's endpoints are set in the environment, so two sandboxes are never bound at once)."""
    scenario = load_scenario("seed")
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        Sandbox(scenario, workdir=tmp / "sandbox", with_azurite=False) as sandbox,
    ):
        config = bind_config(sandbox, tmp, monkeypatch)
        ledger = Ledger.open(config.ledger.url)
        place_scenario_holds(ledger, scenario, sandbox.clock.now(), config.holds.max_duration)
        env = Env(sandbox, config, ledger, tmp)
        env.clear_logs()
        try:
            yield env
        finally:
            ledger.close()


def servers(env: Env) -> list[EmulatorServer]:
    out = [env.sandbox.arm_server, env.sandbox.github_server]
    assert all(s is not None for s in out)
    return [s for s in out if s is not None]


def enforce(env: Env) -> RunOutcome:
    return run_lifecycle(
        env.config, RunRequest(RunMode.ENFORCE, apply=True), ledger=env.ledger, clock=env.sandbox.clock.now
    )


def state(env: Env) -> dict[str, Any]:
    """What remains in the emulators' stores, without the values a fresh sandbox draws anew (secrets, ids)."""
    arm, github = env.sandbox.arm, env.sandbox.github
    assert arm is not None and github is not None
    resources: dict[str, Any] = {}
    for doc in arm.store.raw_resources():
        props = doc.get("properties") or {}
        creds = props.get("credentials") or {}
        resources[doc["id"].lower()] = (
            props.get("status"),
            sorted(p.get("name", "") for p in creds.get("passwords") or []),
            len(creds.get("certificates") or []),
        )
    store = github.store
    with store.lock:
        return {
            "arm": resources,
            "users": {u.login: (u.suspended_at is not None, u.site_admin) for u in store.users.values()},
            "members": {org: sorted(store.members(org)) for org in sorted(store.orgs)},
            "tokens": sorted((t.login, tuple(t.scopes)) for t in store.tokens.values()),
            "grants": sorted((g.owner, g.token_name) for g in store.grants.values()),
            "keys": sorted((k.login, k.title) for k in store.keys.values()),
        }


def carried_out(env: Env) -> list[RequestRecord]:
    """Mutating requests the handler carried out (a dropped answer included: the change was made)."""
    return [
        r
        for s in servers(env)
        for r in s.requests
        if reliability.is_mutation(r) and r.fault not in NOT_CARRIED_OUT and 200 <= r.status < 300
    ]


def per_target(requests: list[RequestRecord]) -> Counter[str]:
    return Counter(f"{r.method} {r.path.lower()}" for r in requests)


def done_keys(env: Env, outcomes: list[RunOutcome]) -> Counter[str]:
    """How often each action was journaled DONE over the runs."""
    return Counter(
        r.action.key
        for o in outcomes
        for r in env.ledger.actions_for_run(o.result.run.run_id, journal=True)
        if r.outcome is ActionOutcome.DONE
    )


@dataclass
class Baseline:
    state: dict[str, Any]
    mutations: Counter[str]
    targets: frozenset[str] = field(default_factory=frozenset)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    with fresh_env(tmp_path_factory.mktemp("fault-free")) as env:
        outcome = enforce(env)
        assert int(outcome.exit_code) == 0, [f.message for f in outcome.result.findings if f.rule == "COLLECT"]
        mutations = per_target(carried_out(env))
        assert mutations, "the fault-free run acted on nothing: nothing to compare"
        assert max(done_keys(env, [outcome]).values()) == 1
        return Baseline(state(env), mutations, frozenset(k.split(" ", 1)[1] for k in mutations))


@dataclass
class Trial:
    converged_after: str = "not converged"
    runs: int = 0
    seconds: float = 0.0
    injected: Counter[str] = field(default_factory=Counter)
    exits: list[int] = field(default_factory=list)


KNOWN: dict[int, str] = {}  # seeds whose trial meets a known bug (seed 5 met both below, now fixed)


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param(seed, marks=pytest.mark.xfail(strict=True, reason=KNOWN[seed])) if seed in KNOWN else seed
        for seed in SEEDS
    ],
)
def test_mixed_faults_converge_to_the_fault_free_end_state(baseline: Baseline, seed: int, tmp_path: Path) -> None:
    trial = Trial()
    started = time.monotonic()
    with fresh_env(tmp_path) as env:
        arm, github = servers(env)
        arm.set_faults(plan(seed))
        github.set_faults(plan(10_000 + seed))
        outcomes: list[RunOutcome] = []
        end: dict[str, Any] = {}
        for attempt in range(1, MAX_FAULTED_RUNS + 2):
            if attempt > MAX_FAULTED_RUNS:
                arm.set_faults(FaultPlan())
                github.set_faults(FaultPlan())
            outcomes.append(enforce(env))
            trial.exits.append(int(outcomes[-1].exit_code))
            end = state(env)
            if end == baseline.state:
                trial.runs = attempt
                trial.converged_after = (
                    f"{attempt} faulted run{'s' if attempt > 1 else ''}"
                    if attempt <= MAX_FAULTED_RUNS
                    else "4 faulted runs + 1 fault-free run"
                )
                break
        trial.seconds = time.monotonic() - started
        trial.injected = Counter(r.fault for s in (arm, github) for r in s.requests if r.fault)
        mutations = per_target(carried_out(env))
        twice = sum(
            max(0, n - baseline.mutations.get(k, 0))
            for k, n in mutations.items()
            if k.split(" ", 1)[1] in baseline.targets
        )
        wrong = sum(n for k, n in mutations.items() if k.split(" ", 1)[1] not in baseline.targets)
        journaled_twice = {k: n for k, n in done_keys(env, outcomes).items() if n > 1}
        converged = end == baseline.state
        reliability.record(
            "requests",
            what=f"mixed faults, seed {seed} (excess over the fault-free run's per-target counts)",
            mutations=sum(mutations.values()),
            targets=len(mutations),
            twice=twice,
            wrong=wrong,
        )
        reliability.record(
            "fault",
            fault="mixed faults (10% 429, 5% 5xx, 5% truncated pages, 2% dropped, 20 ms)",
            where=f"ARM + GitHub, every request, seed {seed}",
            injected=", ".join(f"{kind}: {n}" for kind, n in sorted(trial.injected.items())),
            outcome=f"converged after {trial.converged_after}; exits {trial.exits}; {trial.seconds:.0f} s"
            if converged
            else f"NOT converged after {len(outcomes)} runs; exits {trial.exits}",
            survived=converged and twice == 0 and wrong == 0 and not journaled_twice,
        )
        print(  # shown with -s / -rP: the figures of the trial
            f"seed {seed}: {trial.converged_after}, exits {trial.exits}, {trial.seconds:.1f} s, "
            f"faults {dict(trial.injected)}, mutations {sum(mutations.values())} on {len(mutations)} targets, "
            f"twice {twice}, wrong {wrong}"
        )
        extra = {k: (n, baseline.mutations.get(k, 0)) for k, n in mutations.items() if n > baseline.mutations.get(k, 0)}
        assert converged, {
            k: (end.get(k), baseline.state[k]) for k in baseline.state if end.get(k) != baseline.state[k]
        }
        assert trial.runs <= MAX_FAULTED_RUNS, f"converged only once the faults were off: {trial.converged_after}"
        assert twice == 0 and wrong == 0, extra
        assert not journaled_twice, journaled_twice
        assert sum(trial.injected.values()) > 0  # the faults were injected (the test can fail)


@pytest.mark.parametrize(
    ("emulator", "path"),
    [
        pytest.param("arm", ACR_TOKEN, id="arm-acr-token"),  # once RESENT_DELETE, then LOST_ANSWER_RESENT
        pytest.param("github", GH_USER, id="github-user"),
    ],
)
def test_a_delete_whose_answer_was_dropped_is_carried_out_once(emulator: str, path: str, tmp_path: Path) -> None:
    """The mixed trial's double DELETE, made deterministic: every answer to one target's DELETE is dropped."""
    with fresh_env(tmp_path) as env:
        server = getattr(env.sandbox, f"{emulator}_server")
        assert server is not None
        server.set_faults(FaultPlan(drop=1.0, methods=("DELETE",), path_regex=f"{path}$"))
        outcome = enforce(env)
        deletes = [r for r in carried_out(env) if r.method == "DELETE" and r.path.lower() == path.lower()]
        dropped = sum(r.fault == "drop" for r in deletes)
        journal = [r for r in outcome.result.actions if r.action.target.lower().endswith(path.rsplit("/", 1)[1])]
        reliability.record(
            "requests",
            what=f"dropped DELETE answer ({emulator})",
            mutations=len(deletes),
            targets=1,
            twice=max(0, len(deletes) - 1),
            wrong=0,
        )
        reliability.record(
            "fault",
            fault="drop (DELETE answer lost)",
            where=f"{emulator} DELETE {path.rsplit('/', 1)[1]}",
            injected=dropped,
            outcome=f"DELETE carried out {len(deletes)}x; journaled {[r.outcome.value for r in journal]}",
            survived=len(deletes) == 1,
        )
        assert dropped >= 1  # the fault was injected
        assert len(deletes) == 1, [(r.method, r.status, r.fault) for r in deletes]
        assert journal and {r.outcome for r in journal} == {ActionOutcome.DONE}, [
            (r.outcome, r.detail) for r in journal
        ]
