"""Truncation that can be seen: a list page cut short *without* its next link, on the second run.

The emulators' TRUNCATE fault halves a list page and drops its next link, so the listing looks whole
and shorter. The ledger keeps each listing's size when it was last accepted (`listing_sizes`); a
listing that comes back smaller is read a second time, and only two agreeing readings are believed.
Here the fault's seed is chosen (by asking the injector itself) so that the first reading is cut and
the second is not: a COLLECT ERROR for that scope, nothing acted on there. Objects really deleted
between runs (through the SDK) make both readings agree: the shrink is accepted. A first run, with
no history, believes what it reads (as before). ARM resource listings are covered by the reaper's
cross-check of c7n's typed listings with the generic listing (tests/reaper/test_arm_failures.py).
"""

from __future__ import annotations

from custodian.model import ActionOutcome, RunMode, Status
from custodian.providers.wire import CallCounter
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from custodian.run.context import Providers, RunTuning
from custodian.sandbox.faults import FaultInjector, FaultKind, FaultPlan
from tests.integration.conftest import Env

MUTATING = {"PUT", "PATCH", "POST", "DELETE"}
GRAPHQL = "/api/graphql"  # read-only queries are POSTs
SUB = "11111111-1111-4111-8111-111111111111"
REGISTRY = "qasecureregistry"
TOKENS = rf"registries/{REGISTRY}/tokens$"
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-release-registries"
REGISTRY_PATH = f"{GROUP}/providers/Microsoft.ContainerRegistry/registries/{REGISTRY}"
REGISTRY_SCOPE = REGISTRY_PATH


def cut_then_whole(path_regex: str, path: str) -> FaultPlan:
    """A truncate plan whose first eligible list request is cut and the second is not (seed found, not tuned)."""
    for seed in range(1000):
        plan = FaultPlan(truncate=0.5, seed=seed, path_regex=path_regex, methods=("GET",))
        injector = FaultInjector(plan)
        kinds = [injector.decide("GET", path, is_list=True).kind for _ in range(2)]
        if kinds == [FaultKind.TRUNCATE, None]:
            return plan
    raise AssertionError("no seed cuts the first reading only")


def run(env: Env, mode: RunMode = RunMode.AUDIT, *, apply: bool = False) -> RunOutcome:
    request = RunRequest(mode, apply=apply)
    return run_lifecycle(env.config, request, ledger=env.ledger, clock=env.sandbox.clock.now)


def collect_errors(outcome: RunOutcome) -> list[tuple[str | None, str]]:
    return [
        (f.subject.scope or f.subject.provider_name, f.message)
        for f in outcome.result.findings
        if f.rule == "COLLECT" and f.status is Status.ERROR
    ]


def list_requests(env: Env, server: str, fragment: str) -> list[str | None]:
    return [r.fault for r in getattr(env.sandbox, server).requests if r.method == "GET" and r.path.endswith(fragment)]


def in_registry(outcome: RunOutcome) -> list[str]:
    return [r.action.key for r in outcome.result.actions if REGISTRY in (r.action.subject.scope or "").lower()]


def test_a_token_page_cut_short_on_the_second_run_is_an_error_of_its_registry(seed_env: Env) -> None:
    first = run(seed_env, RunMode.ENFORCE)  # a dry run: what a whole listing would have the run do there
    assert collect_errors(first) == [] and in_registry(first)
    kept = seed_env.ledger.listing_sizes()[("azure", REGISTRY_SCOPE, "acr-tokens")]
    assert kept >= 2
    seed_env.clear_logs()
    seed_env.sandbox.arm_server.set_faults(cut_then_whole(TOKENS, f"{REGISTRY_PATH}/tokens"))  # type: ignore[union-attr]

    second = run(seed_env, RunMode.ENFORCE, apply=True)

    assert list_requests(seed_env, "arm_server", f"{REGISTRY}/tokens") == [FaultKind.TRUNCATE.value, None]
    (error,) = collect_errors(second)
    assert error[0] == REGISTRY_SCOPE
    assert (
        f"tokens of registry {REGISTRY}: incomplete: the last complete listing held {kept}, this one {kept // 2}"
        in error[1]
    )
    assert f"read again {kept}" in error[1] and "collect.shrink_tolerance=0" in error[1]
    assert in_registry(second) == []  # the registry's tokens are not in the inventory: nothing is planned there
    assert not [r for r in seed_env.requests() if r[0] in MUTATING and REGISTRY in r[1].lower()]
    assert any(r.outcome is ActionOutcome.DONE for r in second.result.actions)  # other scopes carried on
    assert int(second.exit_code) == 1
    assert seed_env.ledger.listing_sizes()[("azure", REGISTRY_SCOPE, "acr-tokens")] == kept  # not the cut size


def test_tokens_really_deleted_between_runs_are_a_shrink_two_readings_agree_on(seed_env: Env) -> None:
    run(seed_env)
    kept = seed_env.ledger.listing_sizes()[("azure", REGISTRY_SCOPE, "acr-tokens")]
    providers = Providers(seed_env.config, read_only=False, counter=CallCounter(), tuning=RunTuning())
    try:
        (registry,) = [r for r in providers.registries if r.registry == REGISTRY]
        names = [a.provider_name for a in registry.list_accounts()]
        registry.delete(names[0])  # out of band, through the SDK, as a person in the portal would
    finally:
        providers.close()
    seed_env.clear_logs()

    second = run(seed_env)

    assert list_requests(seed_env, "arm_server", f"{REGISTRY}/tokens") == [None, None]  # read twice
    assert not [e for e in collect_errors(second) if e[0] == REGISTRY_SCOPE]
    assert seed_env.ledger.listing_sizes()[("azure", REGISTRY_SCOPE, "acr-tokens")] == kept - 1
    seed_env.clear_logs()
    run(seed_env)  # the new size is the reference now: read once
    assert list_requests(seed_env, "arm_server", f"{REGISTRY}/tokens") == [None]


def test_a_first_run_believes_what_it_reads(seed_env: Env) -> None:
    seed_env.sandbox.arm_server.set_faults(  # type: ignore[union-attr]
        FaultPlan(truncate=1.0, path_regex=TOKENS, methods=("GET",))
    )
    first = run(seed_env)
    assert list_requests(seed_env, "arm_server", f"{REGISTRY}/tokens") == [FaultKind.TRUNCATE.value]  # once
    assert collect_errors(first) == []  # no history: as before this check existed
    seed_env.sandbox.arm_server.set_faults(FaultPlan())  # type: ignore[union-attr]
    seed_env.clear_logs()
    second = run(seed_env)  # the listing grew: believed at once
    assert collect_errors(second) == []
    assert list_requests(seed_env, "arm_server", f"{REGISTRY}/tokens") == [None]


def github_actions(outcome: RunOutcome) -> list[str]:
    return [r.action.key for r in outcome.result.actions if r.action.subject.provider == "github"]


def test_a_user_page_cut_short_is_an_error_of_the_org(seed_env: Env) -> None:
    assert github_actions(run(seed_env, RunMode.ENFORCE))  # a dry run: a whole listing has work for the run
    seed_env.clear_logs()
    seed_env.sandbox.github_server.set_faults(cut_then_whole(r"^/api/v3/users$", "/api/v3/users"))  # type: ignore[union-attr]

    second = run(seed_env, RunMode.ENFORCE, apply=True)

    assert list_requests(seed_env, "github_server", "/api/v3/users")[:2] == [FaultKind.TRUNCATE.value, None]
    (error,) = collect_errors(second)
    assert error[0] == "github:acme" and "users of " in error[1] and "incomplete: the last complete listing" in error[1]
    assert github_actions(second) == []  # the org's accounts are not in the inventory: nothing planned there
    assert not [r for r in seed_env.sandbox.github_server.requests if r.method in MUTATING and r.path != GRAPHQL]  # type: ignore[union-attr]
    assert int(second.exit_code) == 1


def test_a_tag_page_cut_short_is_an_error_of_the_timeline_and_nothing_is_done(seed_env: Env) -> None:
    """Over REST (`github.api: rest`): the refs listing is a paged list the fault can cut."""
    seed_env.config = seed_env.config.model_copy(
        update={"github": seed_env.config.github.model_copy(update={"api": "rest"})}
    )
    assert run(seed_env, RunMode.ENFORCE).result.actions  # a dry run: a whole listing has work for the run
    seed_env.clear_logs()
    path = "/api/v3/repos/acme/product/git/matching-refs/tags"
    seed_env.sandbox.github_server.set_faults(cut_then_whole(r"/git/matching-refs/tags$", path))  # type: ignore[union-attr]

    second = run(seed_env, RunMode.ENFORCE, apply=True)

    (error,) = collect_errors(second)
    assert error[0] == "timeline" and "tags of acme/product: incomplete" in error[1]
    assert not [r for r in second.result.actions if r.outcome is ActionOutcome.DONE]
    assert [r for r in seed_env.requests() if r[0] in MUTATING and r[1] != GRAPHQL] == []
    assert int(second.exit_code) == 1
