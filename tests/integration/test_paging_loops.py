"""Hostile paging: a next link that points back at its own page stops that listing with a COLLECT ERROR.

The emulators' LOOP_NEXT fault answers a list page whole, its `nextLink` (ARM) or `Link: rel="next"`
(GitHub) set to the request's own URL. Before, a client following it never ended (110,000+ requests
in minutes); now the listing stops on the first link already followed, its scope gets a COLLECT
ERROR, and nothing in that scope is acted on. The raw `Link` paging (GitHub users), PyGithub's
`PaginatedList` (tags, the timeline) and azure-mgmt's `ItemPaged` (ACR tokens; the reaper's generic
ARM resource listing, paged 3 a page) are each tried. c7n's own paging (a child process) is not covered here.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from custodian.model import ActionOutcome, RunMode, Status
from custodian.providers.paging import PageGuard, PagingError
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from custodian.sandbox.faults import FaultInjector, FaultKind, FaultPlan
from tests import reliability
from tests.integration.conftest import Env
from tests.reaper.support import SUB, Step, due_mark, reaper_sandbox

MUTATING = {"PUT", "PATCH", "POST", "DELETE"}
LOOPED = "the next-page link points back to a page already read"
DEADLINE_S = 120


def run_looped(env: Env, server_name: str, path_regex: str) -> tuple[RunOutcome, list[str], float]:
    """An applied enforce run with every list page matching `path_regex` pointing back at itself.

    The run is given a deadline (in a thread), so that a listing that never ends fails the test.
    """
    server = getattr(env.sandbox, server_name)
    assert server is not None
    server.set_faults(FaultPlan(loop_next=1.0, path_regex=path_regex, methods=("GET",)))
    done: list[RunOutcome] = []
    request = RunRequest(RunMode.ENFORCE, apply=True)
    worker = threading.Thread(
        target=lambda: done.append(run_lifecycle(env.config, request, ledger=env.ledger, clock=env.sandbox.clock.now)),
        daemon=True,
    )
    started = time.monotonic()
    worker.start()
    worker.join(timeout=DEADLINE_S)
    elapsed = time.monotonic() - started
    looped = [r.path for r in server.requests if r.fault == FaultKind.LOOP_NEXT.value]
    errors = collect_errors(done[0]) if done else []
    reliability.record(
        "fault",
        fault="loop_next",
        where=f"{server_name} {path_regex}",
        injected=len(looped),
        outcome=f"stopped after {len(looped)} pages: COLLECT ERROR" if errors else "not stopped",
        survived=bool(errors) and not worker.is_alive(),
    )
    assert not worker.is_alive(), f"the run did not end in {DEADLINE_S} s: {len(looped)} looping pages requested"
    assert done, "the run raised (see the thread's traceback above)"
    return done[0], looped, elapsed


def collect_errors(outcome: RunOutcome) -> list[tuple[str | None, str]]:
    return [
        (f.subject.scope or f.subject.provider_name, f.message)
        for f in outcome.result.findings
        if f.rule == "COLLECT" and f.status is Status.ERROR
    ]


def mutations(env: Env, fragment: str) -> list[tuple[str, str, int]]:
    return [r for r in env.requests() if r[0] in MUTATING and fragment in r[1].lower()]


def test_a_looping_acr_token_listing_is_a_collect_error_of_its_registry(seed_env: Env) -> None:
    outcome, looped, elapsed = run_looped(seed_env, "arm_server", r"registries/qasecureregistry/tokens$")
    assert elapsed < 60 and len(looped) == 2  # the first page, then its own link once: never a third time
    (error,) = collect_errors(outcome)
    assert "qasecureregistry" in (error[0] or "") and LOOPED in error[1]
    assert "tokens of registry qasecureregistry: stopped after 2 pages, incomplete" in error[1]
    assert not [r for r in outcome.result.actions if "qasecureregistry" in (r.action.subject.scope or "")]
    logs = [r for s in (seed_env.sandbox.arm_server, seed_env.sandbox.github_server) if s for r in s.requests]
    reliability.record_requests("looping ACR token listing", logs, wrong=lambda r: "qasecureregistry" in r.path.lower())
    assert mutations(seed_env, "qasecureregistry") == []
    assert any(r.outcome is ActionOutcome.DONE for r in outcome.result.actions)  # other scopes carried on
    assert int(outcome.exit_code) == 1  # an incomplete run


def test_a_looping_github_user_listing_is_a_collect_error_of_the_org(seed_env: Env) -> None:
    outcome, looped, elapsed = run_looped(seed_env, "github_server", r"^/api/v3/users$")
    assert elapsed < 60 and len(looped) == 2
    (error,) = collect_errors(outcome)
    assert error[0] == "github:acme" and LOOPED in error[1] and "GET /users: stopped after 2 pages" in error[1]
    github_actions = [r for r in outcome.result.actions if r.action.subject.provider == "github"]
    assert seed_env.sandbox.github_server is not None
    reliability.record_requests("looping GitHub user listing", seed_env.sandbox.github_server.requests, wrong=bool)
    assert all(r.outcome is ActionOutcome.SKIPPED for r in github_actions)
    github = seed_env.sandbox.github_server
    assert github is not None
    assert not [r for r in github.requests if r.method in MUTATING and not r.path.endswith("/graphql")]
    assert int(outcome.exit_code) == 1


def test_a_looping_tag_listing_is_a_collect_error_of_the_timeline_and_nothing_is_done(seed_env: Env) -> None:
    # REST's refs listing (GraphQL's looping cursor: tests/integration/test_github_graphql.py)
    github = seed_env.config.github.model_copy(update={"api": "rest"})
    seed_env.config = seed_env.config.model_copy(update={"github": github})
    outcome, looped, elapsed = run_looped(seed_env, "github_server", r"/git/matching-refs/tags")
    assert elapsed < 60 and len(looped) == 2
    (error,) = collect_errors(outcome)
    assert error[0] == "timeline" and LOOPED in error[1] and "tags of acme/product" in error[1]
    assert all(r.outcome is ActionOutcome.SKIPPED for r in outcome.result.actions)
    assert [r for r in seed_env.requests() if r[0] in MUTATING] == []
    assert int(outcome.exit_code) == 1


@pytest.mark.slow
def test_a_looping_generic_arm_listing_blocks_its_subscription(tmp_path: Path) -> None:
    """The reaper's cross-check listing (`GET /subscriptions/{id}/resources`, 3 items a page) loops: no reaping."""
    with reaper_sandbox(tmp_path) as fresh:
        fresh.set_tags("disk-legacy-export-01", **{"custodian-reap": due_mark(fresh.now)})  # due: would be deleted
        assert fresh.sandbox.arm_server is not None
        fresh.sandbox.arm_server.set_faults(
            FaultPlan(loop_next=1.0, path_regex=rf"^/subscriptions/{SUB}/resources$", methods=("GET",))
        )
        steps: list[Step] = []
        worker = threading.Thread(target=lambda: steps.append(fresh.run("looped", RunMode.ENFORCE, apply=True)))
        worker.daemon = True
        worker.start()
        worker.join(timeout=DEADLINE_S)
        assert not worker.is_alive() and steps, "the run did not end"
        (step,) = steps
        assert len([r for r in step.requests if r.fault == FaultKind.LOOP_NEXT.value]) == 2
        errors = [f for f in step.findings if f.rule == "COLLECT" and f.status is Status.ERROR]
        assert [f.subject.scope for f in errors] == [f"/subscriptions/{SUB}"]
        assert "the generic ARM resource listing failed: PagingError: resources of subscription" in errors[0].message
        assert LOOPED in errors[0].message
        assert step.mutations() == [] and fresh.exists("disk-legacy-export-01")


# -- the guard and the fault on their own -------------------------------------------------------------


def test_the_page_ceiling_stops_an_endless_listing_of_new_links() -> None:
    guard = PageGuard("GET /endless", max_pages=3)
    guard.follow("https://h/x?page=2")
    guard.follow("https://h/x?page=3")
    with pytest.raises(PagingError, match=r"GET /endless: stopped after 3 pages, incomplete"):
        guard.follow("https://h/x?page=4")


def test_a_link_back_to_an_earlier_page_is_caught_however_it_is_spelled() -> None:
    guard = PageGuard("tokens")
    guard.follow("https://ARM.example/t?api-version=1&$skiptoken=b2")
    guard.follow("https://arm.example/t?api-version=1&$skiptoken=b3")
    with pytest.raises(PagingError, match=LOOPED):
        guard.follow("https://arm.example/t?$skiptoken=b2&api-version=1")  # host case and parameter order differ


def test_the_loop_fault_is_a_plan_setting_and_only_touches_lists() -> None:
    plan = FaultPlan.parse("loop_next=1,path_regex=tokens")
    injector = FaultInjector(plan)
    assert injector.decide("GET", "/x/tokens", is_list=True).kind is FaultKind.LOOP_NEXT
    assert injector.decide("DELETE", "/x/tokens", is_list=False).kind is None
    assert injector.decide("GET", "/x/other", is_list=True).kind is None
