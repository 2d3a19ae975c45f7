"""Fault plans: parsing, validation and deterministic decisions."""

from __future__ import annotations

import pytest

from custodian.sandbox.faults import FaultInjector, FaultKind, FaultPlan, FaultSpecError


def test_parse_full_spec() -> None:
    plan = FaultPlan.parse("throttle=0.33, server_error=0.1,latency_ms=20,truncate=0.5,seed=7,methods=get|delete")
    assert plan == FaultPlan(
        throttle=0.33, server_error=0.1, latency_ms=20, truncate=0.5, seed=7, methods=("GET", "DELETE")
    )


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("throttle=2", "'throttle' must be a fraction between 0 and 1"),
        ("throttle=0.7,server_error=0.7", "must not exceed 1"),
        ("bogus=1", "unknown fault setting 'bogus'"),
        ("throttle", "must look like key=value"),
        ("latency_ms=abc", "invalid number"),
        ("retry_after=0", "'retry_after' must be >= 1"),
        ("error_status=404", "'error_status' must be 500, 502, 503 or 504"),
        ("path_regex=(", "not a valid regular expression"),
    ],
)
def test_bad_specs_name_the_problem(spec: str, fragment: str) -> None:
    with pytest.raises(FaultSpecError, match=None) as info:
        FaultPlan.parse(spec)
    assert fragment in str(info.value)


def _kinds(plan: FaultPlan, count: int) -> list[FaultKind | None]:
    injector = FaultInjector(plan)
    return [injector.decide("GET", "/x", is_list=True).kind for _ in range(count)]


def test_same_seed_same_decisions_and_fraction_respected() -> None:
    plan = FaultPlan(throttle=1 / 3, seed=11)
    first, second = _kinds(plan, 300), _kinds(plan, 300)
    assert first == second
    throttled = first.count(FaultKind.THROTTLE)
    assert 70 <= throttled <= 130  # ~100 expected


def test_other_seed_other_decisions() -> None:
    assert _kinds(FaultPlan(throttle=0.5, seed=1), 50) != _kinds(FaultPlan(throttle=0.5, seed=2), 50)


def test_filters_restrict_eligible_requests() -> None:
    injector = FaultInjector(FaultPlan(server_error=1.0, methods=("DELETE",), path_regex="/disks/"))
    assert injector.decide("GET", "/subscriptions/s/disks/d", is_list=False).kind is None
    assert injector.decide("DELETE", "/subscriptions/s/vms/v", is_list=False).kind is None
    assert injector.decide("DELETE", "/subscriptions/s/disks/d", is_list=False).kind is FaultKind.SERVER_ERROR


def test_truncate_only_for_lists() -> None:
    injector = FaultInjector(FaultPlan(truncate=1.0))
    assert injector.decide("GET", "/a", is_list=False).kind is None
    assert injector.decide("GET", "/a", is_list=True).kind is FaultKind.TRUNCATE
