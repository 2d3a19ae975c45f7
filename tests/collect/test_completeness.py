"""The shrink check on its own: when a listing is read again, what two readings must agree on, what is kept."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from custodian.collect.completeness import Completeness, IncompleteListingError, ShrinkTolerance

KEY = ("azure", "/subscriptions/s/registries/r", "acr-tokens")


def reader(*readings: list[str]) -> tuple[list[int], Callable[[], list[str]]]:
    calls = [0]
    answers = list(readings)

    def read() -> list[str]:
        calls[0] += 1
        return answers.pop(0)

    return calls, read


def test_no_history_is_believed_at_once_and_kept() -> None:
    check = Completeness({})
    calls, read = reader(["a", "b"])
    assert check.check(KEY, "tokens", read, str) == ["a", "b"]
    assert calls == [1] and check.accepted == {KEY: 2}


def test_a_listing_that_grew_or_kept_its_size_is_read_once() -> None:
    for listed in (["a", "b", "c"], ["a", "b", "c", "d"]):
        check = Completeness({KEY: 3})
        calls, read = reader(listed)
        assert check.check(KEY, "tokens", read, str) == listed
        assert calls == [1] and check.accepted == {KEY: len(listed)}


def test_a_shrink_two_readings_agree_on_is_accepted() -> None:
    check = Completeness({KEY: 4})
    calls, read = reader(["a", "b", "c"], ["c", "b", "a"])  # another order: the same objects
    assert check.check(KEY, "tokens of r", read, str) == ["a", "b", "c"]
    assert calls == [2] and check.accepted == {KEY: 3}
    assert check.confirmed == ["tokens of r: 4 -> 3, confirmed by a second listing"]


def test_a_shrink_the_second_reading_disagrees_with_is_an_error_and_nothing_is_kept() -> None:
    check = Completeness({KEY: 4}, ShrinkTolerance(0.1, 1))
    _, read = reader(["a", "b"], ["a", "b", "c", "d"])
    with pytest.raises(IncompleteListingError) as caught:
        check.check(KEY, "tokens of r", read, str)
    message = str(caught.value)
    assert "tokens of r: incomplete: the last complete listing held 4, this one 2, and read again 4" in message
    assert "2 only in the second: c, d" in message
    assert "collect.shrink_tolerance=0.1, collect.shrink_minimum=1" in message
    assert check.accepted == {}


def test_the_same_objects_a_different_number_of_times_is_not_agreement() -> None:
    check = Completeness({KEY: 4})
    _, read = reader(["a", "b"], ["a", "b", "b"])
    with pytest.raises(IncompleteListingError, match="the same objects, listed a different number of times"):
        check.check(KEY, "tokens", read, str)


@pytest.mark.parametrize(
    ("fraction", "minimum", "previous", "now", "noticed"),
    [
        (0.0, 1, 10, 9, True),  # the defaults: any shrink is read again
        (0.0, 1, 10, 10, False),
        (0.1, 1, 10, 9, False),  # 10 % is within a 10 % tolerance
        (0.1, 1, 10, 8, True),
        (0.0, 5, 100, 96, False),  # fewer than the minimum
        (0.0, 5, 100, 95, True),
        (0.5, 1, 4, 2, False),  # a half page cut from a small listing hides under a 50 % tolerance
    ],
)
def test_when_a_shrink_is_noticed(fraction: float, minimum: int, previous: int, now: int, noticed: bool) -> None:
    assert ShrinkTolerance(fraction, minimum).noticed(previous, now) is noticed


def test_a_tolerance_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="fraction"):
        ShrinkTolerance(1.0, 1)
    with pytest.raises(ValueError, match="at least 1"):
        ShrinkTolerance(0.0, 0)


def test_checks_of_two_scopes_keep_their_own_sizes() -> None:
    check = Completeness({("github", "github:acme", "users"): 5})
    assert check.for_scope("github", "github:acme")("users", "users", lambda: ["x"] * 5, str) == ["x"] * 5
    assert check.for_scope("azure", "/r")("acr-tokens", "tokens", lambda: ["t"], str) == ["t"]
    assert check.accepted == {("github", "github:acme", "users"): 5, ("azure", "/r", "acr-tokens"): 1}
