"""Account names and release tags: building, parsing, and the ambiguity of dots vs hyphens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custodian.model import AccountKind
from custodian.rules.naming import AccountNamer, NameProblem, ParsedAccount, TagMatch, TemplateError

NAMER = AccountNamer(("qa", "uat", "prod"))
versions = st.builds(
    lambda parts, pre: "v" + ".".join(map(str, parts)) + (f"-rc{pre}" if pre is not None else ""),
    st.lists(st.integers(0, 999), min_size=3, max_size=3),
    st.none() | st.integers(0, 99),
)


@given(versions, st.sampled_from(("qa", "uat", "prod")), st.sampled_from(list(AccountKind)))
def test_round_trip_through_the_provider_name(version: str, stage: str, kind: AccountKind) -> None:
    name = NAMER.provider_name(version, stage, kind)
    assert "." not in name
    assert NAMER.parse_account(name, frozenset({version})) == ParsedAccount(
        version, stage, kind, NAMER.logical_name(version, stage, kind)
    )


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("v0.0.1-qa", TagMatch("v0.0.1", "qa")),
        ("v0.0.1-uat", TagMatch("v0.0.1", "uat")),
        ("v0.0.1", TagMatch("v0.0.1", "prod")),
        ("v1.0.0-rc1-uat", TagMatch("v1.0.0-rc1", "uat")),
        ("v1.0.0-rc1", TagMatch("v1.0.0-rc1", "prod")),
        ("v0.0.1-prod", None),
        ("latest", None),
        ("release-2024", None),
    ],
)
def test_parse_tag(tag: str, expected: TagMatch | None) -> None:
    assert NAMER.parse_tag(tag) == expected


def test_problems_are_explained() -> None:
    known = frozenset({"v0.0.1"})
    problem = NAMER.parse_account("build-helper-sa", known)
    assert isinstance(problem, NameProblem) and "does not match the account template" in problem.reason
    unknown = NAMER.parse_account("v0-9-9-qa-gh-sa", known)
    assert isinstance(unknown, NameProblem) and unknown.unknown_version
    assert NAMER.looks_like_service_account("v0-0-1-qa-gh-sa")
    assert not NAMER.looks_like_service_account("octo-admin")


def test_logical_display_name_must_agree_with_the_provider_name() -> None:
    known = frozenset({"v0.0.1"})
    # a display name that spells another account is ignored, the provider name decides
    parsed = NAMER.parse_account("v0-0-1-qa-gh-sa", known, display_name="v0.0.1-uat-gh-sa")
    assert isinstance(parsed, ParsedAccount) and parsed.stage == "qa"


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{version}-{stage}-sa", "must contain {kind} exactly once"),
        ("{version}-{stage}-{kind}-{owner}", "unknown field(s): owner"),
        ("{version}-{version}-{stage}-{kind}", "must contain {version} exactly once"),
    ],
)
def test_bad_templates(template: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as info:
        AccountNamer(("qa", "prod"), account_template=template)
    assert fragment in str(info.value)


# -- the index of known versions: the same answers as a scan of the plain set ----------------------------------
spellings = st.sampled_from(["v1.1.0", "v1-1-0", "V1.1.0", "v1.10", "v1.1.00", "v1.1-0", "v1-10", "v2.0.0", "x"])


@given(st.frozensets(spellings, max_size=6), spellings, st.sampled_from(("qa", "uat", "prod")))
def test_indexed_versions_answer_like_the_plain_set(known: frozenset[str], raw: str, stage: str) -> None:
    from custodian.rules.release_tags import KnownVersions, resolve_version

    index = KnownVersions(known)
    assert index == known and isinstance(index, frozenset)
    assert resolve_version(f" {raw} ", index) == resolve_version(f" {raw} ", known)
    name = f"{raw.replace('.', '-')}-{stage}-gh-sa"
    assert NAMER.parse_account(name, index) == NAMER.parse_account(name, known)


def test_an_ambiguous_token_stays_ambiguous_when_indexed() -> None:
    from custodian.rules.release_tags import KnownVersions

    known = KnownVersions({"v1.1.0-1", "v1.1.0.1", "v1.10.1", "v2.0.0"})
    problem = NAMER.parse_account("v1-1-0-1-qa-gh-sa", known)
    assert isinstance(problem, NameProblem) and "could name versions v1.1.0-1, v1.1.0.1;" in problem.reason
