"""The terminal summary of GitHub's rate-limit budget says only what GitHub reported."""

from __future__ import annotations

from custodian.providers.github.budget import budget_lines


def test_no_budget_reported_prints_nothing() -> None:
    assert budget_lines({}) == []
    assert budget_lines({"limit": None, "cost": 3, "graphql": {"limit": None}}) == []


def test_core_and_graphql_budgets_are_both_shown_with_the_warnings() -> None:
    lines = budget_lines(
        {
            "limit": 5000,
            "remaining": 4990,
            "reset": "2026-12-01T19:00:00Z",
            "cost": 10,
            "not_modified": 150,
            "warnings": ["revocations first"],
            "graphql": {"requests": 3, "cost": 3, "limit": 5000, "remaining": 4997},
        }
    )
    assert lines == [
        "GitHub rate limit: 10 requests counted (150 answered 304, free), 4990 of 5000 left until "
        "2026-12-01T19:00:00Z; GraphQL 3 points, 4997 of 5000 left",
        "  revocations first",
    ]


def test_a_graphql_only_budget_never_prints_an_unknown_core_budget() -> None:
    lines = budget_lines(
        {"limit": None, "cost": 1, "graphql": {"requests": 3, "cost": 3, "limit": 5000, "remaining": 4997}}
    )
    assert lines == [
        "GitHub rate limit: 1 requests counted (0 answered 304, free); GraphQL 3 points, 4997 of 5000 left"
    ]
    assert "None" not in lines[0]
