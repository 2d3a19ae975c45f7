"""The reaper's blob part (L4 and O6) through the real path, against Azurite seeded with the seed story.

Blobs are found by listing every configured container with index tags (three per page here), judged
by the same rules and gate as every other target, marked (index tag) and, past the grace, deleted
with their snapshots, each deletion conditional on the ETag and on the mark still holding the value
judged due.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from custodian.model import ActionOutcome, RunMode, Status
from custodian.rules.reaping import parse_mark
from custodian.run import REAPER
from tests.reaper.support import GRACE, SUB, TUNING, Reaper, Step, reaper_sandbox

pytestmark = [pytest.mark.slow, pytest.mark.azurite]

L4 = {
    "release-artifacts/v0.0.1/qa/test-report.xml",
    "release-artifacts/v0.0.1/qa/coverage.html",
    "release-artifacts/v0.0.1/uat/smoke-results.json",
    "ci-scratch/build-cache/v0.0.1-qa.tar",
    "release-artifacts/v0.0.1/qa/mixed-case-tags.txt",  # added: tag keys and values in other letter cases
}
O6 = {"ci-scratch/tmp/run-4411/build.log", "ci-scratch/tmp/run-4412/build.log"}
HELD = {"ci-scratch/tmp/run-4413/core.dump"}
STAY = {  # never a candidate
    "release-artifacts/v0.0.1/prod/release-notes.md",
    "release-artifacts/v0.0.2/qa/test-report.xml",
    "release-artifacts/v0.0.2/uat/smoke-results.json",
    "release-artifacts/README.md",
}


@dataclass
class Story:
    reaper: Reaper
    service: BlobServiceClient
    methods: list[str]
    audit: Step
    dry_mark: Step
    mark: Step
    dry_delete: Step
    delete: Step
    after: Step


def _blob_findings(step: Step) -> dict[str, object]:
    return {f.subject.provider_name: f for f in step.findings if f.subject.kind == "blob"}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with reaper_sandbox(tmp_path_factory.mktemp("blob-story"), blobs=True) as reaper:
        service = BlobServiceClient.from_connection_string(reaper.sandbox.env.storage_connection_string)
        container = service.get_container_client("release-artifacts")
        container.upload_blob(
            "v0.0.1/qa/mixed-case-tags.txt", b"x" * 100, tags={"Release-Version": "V0.0.1", "RELEASE-STAGE": "QA"}
        )
        container.get_blob_client("v0.0.1/qa/test-report.xml").create_snapshot()
        time.sleep(1.1)  # the sandbox config makes ephemeral blobs stale after one second
        methods: list[str] = []
        tuning = replace(TUNING, blob=replace(TUNING.blob, request_hook=lambda method, url: methods.append(method)))

        def run(name: str, mode: RunMode = RunMode.AUDIT, apply: bool = False) -> Step:
            methods.clear()
            step = reaper.run(name, mode, apply=apply, tuning=tuning)
            step.blob_methods = list(methods)  # type: ignore[attr-defined]
            return step

        audit = run("audit")
        dry_mark = run("dry-mark", RunMode.ENFORCE)
        mark = run("mark", RunMode.ENFORCE, apply=True)
        reaper.advance(GRACE + timedelta(hours=1))
        dry_delete = run("dry-delete", RunMode.ENFORCE)
        delete = run("delete", RunMode.ENFORCE, apply=True)
        after = run("after")
        yield Story(reaper, service, methods, audit, dry_mark, mark, dry_delete, delete, after)


def _exists(story: Story, path: str) -> bool:
    container, name = path.split("/", 1)
    return story.service.get_container_client(container).get_blob_client(name).exists()


def test_the_audit_finds_l4_and_o6_once_each_and_leaves_the_rest(story: Story) -> None:
    findings = _blob_findings(story.audit)
    assert {n for n, f in findings.items() if f.rule == "L4" and f.status is Status.FAIL} == L4  # type: ignore[attr-defined]
    assert {n for n, f in findings.items() if f.rule == "O6" and f.status is Status.FAIL} == O6  # type: ignore[attr-defined]
    assert {n for n, f in findings.items() if f.status is Status.HELD} == HELD  # type: ignore[attr-defined]
    assert not STAY & set(findings)
    assert findings["ci-scratch/build-cache/v0.0.1-qa.tar"].evidence["also_matches"] == "O6"  # type: ignore[attr-defined]


def test_audits_and_dry_runs_send_only_reads(story: Story) -> None:
    for step in (story.audit, story.dry_mark, story.dry_delete, story.after):
        assert step.blob_methods and set(step.blob_methods) <= {"GET", "HEAD"}, step.name  # type: ignore[attr-defined]


def test_marks_then_deletions_with_snapshots_dry_runs_equal_applied_runs(story: Story) -> None:
    def blobs(step: Step, outcome: ActionOutcome) -> set[tuple[str, str]]:
        return {(kind, name) for kind, name in step.outcomes(outcome) if "/" in name}

    reaped = {("mark", n) for n in L4 | O6}
    assert blobs(story.dry_mark, ActionOutcome.PLANNED) == reaped == blobs(story.mark, ActionOutcome.DONE)
    deleted = {("delete_resource", n) for n in L4 | O6}
    assert blobs(story.dry_delete, ActionOutcome.PLANNED) == deleted == blobs(story.delete, ActionOutcome.DONE)
    for path in L4 | O6:
        assert not _exists(story, path), path
    for path in HELD | STAY:
        assert _exists(story, path), path
    snapshots = story.service.get_container_client("release-artifacts").list_blobs(
        name_starts_with="v0.0.1/qa/test-report.xml", include=["snapshots"]
    )
    assert list(snapshots) == []


def test_the_mark_is_the_planned_time_and_the_rule(story: Story) -> None:
    record = next(r for r in story.mark.records if r.action.subject.provider_name in O6)
    due = parse_mark(record.action.param("due"))
    assert due is not None and abs(due - (story.mark.outcome.result.run.started_at + GRACE)) < timedelta(seconds=2)
    assert record.action.param(
        "due",
    ).endswith(" O6")  # type: ignore[union-attr]


def test_after_the_story_only_the_held_blob_remains_a_finding(story: Story) -> None:
    findings = _blob_findings(story.after)
    assert {n for n, f in findings.items() if f.status is Status.FAIL} == set()  # type: ignore[attr-defined]
    assert set(findings) == HELD


# -- one sandbox each --------------------------------------------------------------------------------------------
@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Reaper]:
    with reaper_sandbox(tmp_path, blobs=True) as reaper:
        time.sleep(1.1)
        yield reaper


def _service(reaper: Reaper) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(reaper.sandbox.env.storage_connection_string)


def test_a_hold_placed_after_the_inventory_wins_at_the_re_read(fresh: Reaper, monkeypatch: pytest.MonkeyPatch) -> None:
    from custodian.gateways import blobs as gateway

    blob = _service(fresh).get_container_client("ci-scratch").get_blob_client("tmp/run-4411/build.log")
    original = gateway.BlobGateway.read

    def late_hold(self: gateway.BlobGateway, action: object) -> object:
        if blob.get_blob_tags().get("custodian-hold") is None:
            blob.set_blob_tags({**blob.get_blob_tags(), "Custodian-Hold": "placed while the run ran"})
        return original(self, action)  # type: ignore[arg-type]

    monkeypatch.setattr(gateway.BlobGateway, "read", late_hold)
    step = fresh.run("late-hold", RunMode.ENFORCE, apply=True)
    (record,) = step.records_for("ci-scratch/tmp/run-4411/build.log")
    assert record.outcome is ActionOutcome.SKIPPED and "held: the hold tag Custodian-Hold" in record.detail
    assert "custodian-reap" not in blob.get_blob_tags()


def test_a_blob_rewritten_after_its_mark_is_marked_again_never_deleted(fresh: Reaper) -> None:
    fresh.run("mark", RunMode.ENFORCE, apply=True)
    blob = _service(fresh).get_container_client("ci-scratch").get_blob_client("tmp/run-4412/build.log")
    tags = blob.get_blob_tags()
    fresh.advance(GRACE + timedelta(hours=1))
    blob.upload_blob(b"rewritten", overwrite=True, tags=tags)  # same tags, new content, after the mark
    step = fresh.run("again", RunMode.ENFORCE, apply=True)
    (record,) = step.records_for("ci-scratch/tmp/run-4412/build.log")
    assert (record.action.kind.value, record.outcome) == ("mark", ActionOutcome.DONE)
    assert "mark older than the object" in step.finding("ci-scratch/tmp/run-4412/build.log").message
    assert blob.exists()


@pytest.fixture(scope="module")
def unchanged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reaper]:
    """One sandbox for the tests whose runs are refused and change nothing (each asserts so)."""
    with reaper_sandbox(tmp_path_factory.mktemp("blob-refusals"), blobs=True) as reaper:
        time.sleep(1.1)
        yield reaper


def test_a_missing_configured_container_blocks_every_blob_action(unchanged: Reaper) -> None:
    fresh = unchanged
    reaper = fresh.config.reaper
    assert reaper is not None
    account = reaper.storage_accounts[0].model_copy(update={"containers": ["release-artifacts", "does-not-exist"]})
    config = fresh.reaper_config(storage_accounts=[account])
    step = fresh.run("missing", RunMode.ENFORCE, apply=True, config=config)
    errors = [f for f in step.findings if f.status is Status.ERROR and f.rule == "COLLECT"]
    assert [f.subject.scope for f in errors] == ["blob:devstoreaccount1"]
    assert "does-not-exist" in errors[0].message
    blob_records = [r for r in step.records if r.action.subject.kind == "blob"]
    assert blob_records and all(r.outcome is ActionOutcome.SKIPPED for r in blob_records)
    assert all(
        _service(fresh).get_container_client("ci-scratch").get_blob_client(n).get_blob_tags().get("custodian-reap")
        is None
        for n in ("tmp/run-4411/build.log", "tmp/run-4412/build.log")
    )


def test_blobs_of_a_subscription_outside_the_allowlist_are_refused(unchanged: Reaper) -> None:
    fresh = unchanged
    config = fresh.enforce(allowed_subscriptions=["22222222-2222-4222-8222-222222222222"])
    step = fresh.run("allowlist", RunMode.ENFORCE, apply=True, config=config, parts=frozenset({REAPER}))
    safety = [f for f in step.findings if f.rule == "SAFETY" and f.subject.scope == f"/subscriptions/{SUB}"]
    assert len(safety) == 1 and "outside the enforce allowlist" in safety[0].message
    assert all(r.outcome is ActionOutcome.SKIPPED for r in step.records)
    finding = step.finding("ci-scratch/tmp/run-4411/build.log")
    assert "enforce marks it" not in finding.message and "not acted on" in finding.message


def test_an_unresolved_storage_account_is_never_acted_on(unchanged: Reaper) -> None:
    fresh = unchanged
    reaper = fresh.config.reaper
    assert reaper is not None
    account = reaper.storage_accounts[0].model_copy(update={"subscription": None})
    step = fresh.run("unresolved", RunMode.ENFORCE, apply=True, config=fresh.reaper_config(storage_accounts=[account]))
    errors = [f for f in step.findings if f.rule == "COLLECT" and f.subject.scope == "blob:devstoreaccount1"]
    assert errors and "subscription could not be resolved" in errors[0].message
    assert {r.outcome for r in step.records if r.action.subject.kind == "blob"} == {ActionOutcome.SKIPPED}


def test_costs_are_the_price_table_estimate(story: Story) -> None:
    from custodian.pricing.table import PriceTable

    step = story.audit
    core = step.finding("ci-scratch/tmp/run-4413/core.dump")
    assert core.cost is not None and core.cost == PriceTable.load().blob(131072, "Hot")
