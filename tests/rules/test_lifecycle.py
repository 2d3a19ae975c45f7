"""Table-driven tests of the lifecycle rules at their boundaries (time is passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custodian.model import (
    AccountKind,
    CollectionError,
    Credential,
    CredentialKind,
    DeploymentFact,
    Finding,
    Hold,
    HoldTarget,
    Inventory,
    Provider,
    ReleaseTimeline,
    Scope,
    ServiceAccount,
    StageStart,
    Status,
)
from custodian.rules.collection import collection_errors
from custodian.rules.holds import expired_holds
from custodian.rules.lifecycle import LifecycleSettings, evaluate_accounts
from custodian.rules.naming import AccountNamer
from tests.engine_helpers import settled

STAGES = ("qa", "uat", "prod")
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
SETTINGS = LifecycleSettings(namer=AccountNamer(STAGES), handoff_grace=H, prod_revocation_grace=2 * H, retention=24 * H)


def start(version: str, stage: str, at: datetime) -> StageStart:
    return StageStart(version, stage, at, f"tag {version}-{stage}")


def deployment(version: str, dep_id: int, *statuses: tuple[str, datetime]) -> DeploymentFact:
    return DeploymentFact(version, dep_id, "production", statuses[0][1] if statuses else T0, tuple(statuses))


def token(expires: datetime | None = None, created: datetime = T0) -> Credential:
    return Credential(CredentialKind.IMPERSONATION_TOKEN, "1", "ci", created, expires)


def gh(
    name: str, *, enabled: bool = True, creds: tuple[Credential, ...] = (), display: str | None = None
) -> ServiceAccount:
    return ServiceAccount(
        Provider.GITHUB, AccountKind.GH, name, "github:acme", Scope.github("acme"), enabled, creds, display_name=display
    )


def acr(name: str, *, enabled: bool = True, creds: tuple[Credential, ...] = ()) -> ServiceAccount:
    return ServiceAccount(
        Provider.AZURE,
        AccountKind.ACR,
        name,
        "registry:qa",
        Scope.subscription("s1"),
        enabled,
        creds,
        resource_id=f"/r/{name}",
    )


def run(
    accounts: list[ServiceAccount],
    starts: list[StageStart],
    now: datetime,
    deployments: tuple[DeploymentFact, ...] = (),
    holds: tuple[Hold, ...] = (),
    errors: tuple[CollectionError, ...] = (),
) -> list[Finding]:
    timeline = ReleaseTimeline(STAGES, tuple(starts), deployments)
    inventory = Inventory(now, timeline, tuple(accounts), errors=errors)
    verdicts = collection_errors(errors) + evaluate_accounts(inventory, now, SETTINGS) + expired_holds(holds, now)
    findings = settled(verdicts, inventory, now, holds)
    return [f for f in findings if f.rule != "SAFETY"]


def status_of(findings: list[Finding], rule: str, name: str | None = None) -> Status:
    matches = [f for f in findings if f.rule == rule and (name is None or f.subject.provider_name == name)]
    assert len(matches) == 1, (rule, name, matches)
    return matches[0].status


BASE = [start("v1.0.0", "qa", T0 - 48 * H)]


@pytest.mark.parametrize(
    ("uat_started", "now", "enabled", "creds", "expected"),
    [
        # uat started at T0, hand-off grace 1h
        (True, T0 + H - timedelta(seconds=1), True, (token(),), Status.PASS),  # just before the grace ends
        (True, T0 + H, True, (token(),), Status.FAIL),  # grace over, still enabled
        (True, T0 + H, False, (token(),), Status.FAIL),  # suspended but a token still works
        (True, T0 + H, False, (token(expires=T0),), Status.PASS),  # the token expired
        (True, T0 + H, False, (), Status.PASS),  # disabled, no credential
        (False, T0 + 100 * H, True, (token(),), Status.PASS),  # uat never started: not due
    ],
)
def test_l1_handoff_boundaries(
    uat_started: bool, now: datetime, enabled: bool, creds: tuple[Credential, ...], expected: Status
) -> None:
    starts = BASE + ([start("v1.0.0", "uat", T0)] if uat_started else [])
    findings = run([gh("v1-0-0-qa-gh-sa", enabled=enabled, creds=creds)], starts, now)
    assert status_of(findings, "L1") is expected


def test_l1_skipped_stage_still_hands_off() -> None:
    starts = [*BASE, start("v1.0.0", "prod", T0)]
    findings = run([gh("v1-0-0-qa-gh-sa")], starts, T0 + 2 * H)
    assert status_of(findings, "L1") is Status.FAIL


def test_tags_out_of_order_use_each_stage_own_start() -> None:
    # uat's tag carries an earlier date than qa's: L1 for qa still keys off uat's start.
    starts = [start("v1.0.0", "qa", T0), start("v1.0.0", "uat", T0 - 10 * H)]
    findings = run([gh("v1-0-0-qa-gh-sa")], starts, T0)
    assert status_of(findings, "L1") is Status.FAIL
    assert not [f for f in findings if f.rule == "N2"]  # both stages started, whatever their order


PROD_STARTS = [*BASE, start("v1.0.0", "uat", T0 - 24 * H), start("v1.0.0", "prod", T0 - H)]


@pytest.mark.parametrize(
    ("deployments", "now", "l2", "l3"),
    [
        ((), T0 + 100 * H, Status.PASS, Status.PASS),  # no deployment at all
        ((deployment("v1.0.0", 1),), T0 + 100 * H, Status.PASS, Status.PASS),  # deployment without any status
        ((deployment("v1.0.0", 1, ("pending", T0), ("failure", T0 + H)),), T0 + 100 * H, Status.PASS, Status.PASS),
        ((deployment("v1.0.0", 1, ("success", T0)),), T0 + 2 * H - timedelta(seconds=1), Status.PASS, Status.PASS),
        ((deployment("v1.0.0", 1, ("success", T0)),), T0 + 2 * H, Status.FAIL, Status.PASS),  # revocation grace over
        ((deployment("v1.0.0", 1, ("success", T0)),), T0 + 24 * H - timedelta(seconds=1), Status.FAIL, Status.PASS),
        ((deployment("v1.0.0", 1, ("success", T0)),), T0 + 24 * H, Status.FAIL, Status.FAIL),  # retention over
        # a failed deployment followed by a successful one: the success time counts
        (
            (deployment("v1.0.0", 1, ("failure", T0 - 10 * H)), deployment("v1.0.0", 2, ("success", T0))),
            T0 + 24 * H - timedelta(seconds=1),
            Status.FAIL,
            Status.PASS,
        ),
    ],
)
def test_l2_l3_boundaries(deployments: tuple[DeploymentFact, ...], now: datetime, l2: Status, l3: Status) -> None:
    findings = run([acr("v1-0-0-prod-acr-sa")], PROD_STARTS, now, deployments)
    assert status_of(findings, "L2") is l2
    assert status_of(findings, "L3") is l3


def test_l3_applies_to_every_stage_of_the_version() -> None:
    accounts = [gh(f"v1-0-0-{s}-gh-sa", enabled=False) for s in STAGES]
    findings = run(accounts, PROD_STARTS, T0 + 30 * H, (deployment("v1.0.0", 1, ("success", T0)),))
    assert {f.subject.stage for f in findings if f.rule == "L3" and f.status is Status.FAIL} == set(STAGES)


def hold(target_type: HoldTarget, target: str, until: datetime, released: bool = False) -> Hold:
    return Hold(
        "H-1",
        target_type,
        target,
        "release review",
        "alice",
        T0 - 48 * H,
        until,
        released_at=T0 if released else None,
    )


@pytest.mark.parametrize(
    ("the_hold", "expected"),
    [
        (hold(HoldTarget.VERSION, "v1.0.0", T0 + 100 * H), Status.HELD),
        (hold(HoldTarget.ACCOUNT, "v1.0.0-prod-acr-sa", T0 + 100 * H), Status.HELD),
        (hold(HoldTarget.ACCOUNT, "v1-0-0-prod-acr-sa", T0 + 100 * H), Status.HELD),  # provider name works too
        (hold(HoldTarget.VERSION, "v1.0.1", T0 + 100 * H), Status.FAIL),  # another version
        (hold(HoldTarget.VERSION, "v1.0.0", T0 + 30 * H), Status.FAIL),  # expired exactly now
        (hold(HoldTarget.VERSION, "v1.0.0", T0 + 100 * H, released=True), Status.FAIL),
    ],
)
def test_holds_turn_fail_into_held(the_hold: Hold, expected: Status) -> None:
    findings = run(
        [acr("v1-0-0-prod-acr-sa")], PROD_STARTS, T0 + 30 * H, (deployment("v1.0.0", 1, ("success", T0)),), (the_hold,)
    )
    assert status_of(findings, "L3") is expected
    expired = [f for f in findings if f.rule == "HOLD"]
    assert bool(expired) == (the_hold.released_at is None and the_hold.until <= T0 + 30 * H)


def test_names_dots_vs_hyphens_are_resolved_or_reported() -> None:
    starts = [start("v1.2.3-4", "qa", T0), start("v1.2.3.4", "qa", T0), start("v2.0.0", "qa", T0)]
    accounts = [
        gh("v1-2-3-4-qa-gh-sa", display="v1.2.3.4-qa-gh-sa"),  # the logical name disambiguates
        acr("v1-2-3-4-qa-acr-sa"),  # ACR keeps no logical name: ambiguous, reported
        gh("v2-0-0-qa-gh-sa"),
    ]
    findings = run(accounts, starts, T0)
    resolved = {f.subject.provider_name: f.subject.version for f in findings if f.rule == "L1"}
    assert resolved == {"v1-2-3-4-qa-gh-sa": "v1.2.3.4", "v2-0-0-qa-gh-sa": "v2.0.0"}
    n1 = [f for f in findings if f.rule == "N1"]
    assert [f.subject.provider_name for f in n1] == ["v1-2-3-4-qa-acr-sa"]
    assert "ambiguous" in n1[0].message


def test_unparsable_and_unknown_versions_are_n1_and_unstarted_stage_is_n2() -> None:
    accounts = [gh("release-gh-sa"), gh("v9-9-9-qa-gh-sa"), acr("v1-0-0-prod-acr-sa")]
    findings = run(accounts, BASE, T0)
    assert status_of(findings, "N1", "release-gh-sa") is Status.WARN
    assert status_of(findings, "N1", "v9-9-9-qa-gh-sa") is Status.WARN
    assert status_of(findings, "N2", "v1-0-0-prod-acr-sa") is Status.WARN
    assert not [f for f in findings if f.rule == "L1" and f.subject.provider_name != "v1-0-0-prod-acr-sa"]


@pytest.mark.parametrize(
    ("cred", "expected"),
    [
        (token(expires=None), Status.WARN),
        (token(expires=T0 + timedelta(days=31)), Status.WARN),
        (token(expires=T0 + timedelta(days=30)), Status.PASS),
        (token(expires=T0 - H), Status.PASS),  # already expired: not a hygiene problem
    ],
)
def test_h1_credential_hygiene(cred: Credential, expected: Status) -> None:
    findings = run([gh("v1-0-0-qa-gh-sa", creds=(cred,))], BASE, T0)
    assert status_of(findings, "H1") is expected


def test_collection_errors_are_error_findings() -> None:
    error = CollectionError(Provider.AZURE, "registry:qa", "429 after 4 attempts")
    findings = run([], BASE, T0, errors=(error,))
    assert [(f.rule, f.status, f.subject.scope) for f in findings] == [("COLLECT", Status.ERROR, "registry:qa")]


def test_completed_versions_respect_the_grace() -> None:
    from dataclasses import replace

    from custodian.rules.leftovers import completed_versions
    from tests.engine_helpers import REAP

    timeline = ReleaseTimeline(
        STAGES,
        tuple(PROD_STARTS),
        (
            deployment("v1.0.0", 1, ("failure", T0 - 5 * H), ("success", T0)),
            deployment("v2.0.0", 2, ("pending", T0)),
        ),
    )
    settings = replace(REAP, leftover_grace=24 * H)
    assert completed_versions(timeline, settings, T0 + 24 * H - timedelta(seconds=1)) == frozenset()
    assert completed_versions(timeline, settings, T0 + 24 * H) == {"v1.0.0"}
    assert settings.leftover_stages == ("qa", "uat")
