"""The blob sweep (rules L4 and O6) with the real azure-storage-blob client against Azurite.

Azurite is started once for the module; each test wipes it and seeds the `seed` scenario's
`storage:` section (v0.0.1 qa/uat artifacts, v0.0.2 and prod ones, the ephemeral `ci-scratch`
container with stale-to-be build logs and a held core dump). Azurite stamps last-modified with the
real upload time, so tests that need "old" blobs pass a `now` in the future instead.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.storage.blob import BlobServiceClient

from custodian.config import Config
from custodian.model import Action, ActionKind, ActionOutcome, ActionRecord, Finding, Status
from custodian.pricing.table import PriceTable
from custodian.progress import NullProgress
from custodian.providers.azure.blobs import BlobAccount, BlobSettings, TagQueryError, tag_equals, where_clause
from custodian.providers.wire import CallCounter, ReadOnlyViolation
from custodian.reaper.blobs import format_due, parse_due, sweep_blobs
from custodian.sandbox.azurite import DEV_ACCOUNT, DEV_ACCOUNT_KEY, Azurite, start_azurite
from custodian.sandbox.scenario import SeedSummary, load_scenario, seed_blobs

pytestmark = pytest.mark.azurite

FAST = BlobSettings(retry_total=0, initial_backoff_s=0, increment_base=0, jitter_s=0)
PRICES = PriceTable.load()
GRACE = timedelta(days=2)
CONN_ENV = "TEST_BLOB_CONNECTION_STRING"

# What the seed story holds (scenarios/seed.yaml, `storage:`), by expected outcome.
L4_BLOBS = {
    "release-artifacts/v0.0.1/qa/test-report.xml",
    "release-artifacts/v0.0.1/qa/coverage.html",
    "release-artifacts/v0.0.1/uat/smoke-results.json",
    "ci-scratch/build-cache/v0.0.1-qa.tar",  # also O6: reported once, as L4
}
O6_BLOBS = {"ci-scratch/tmp/run-4411/build.log", "ci-scratch/tmp/run-4412/build.log"}
HELD_BLOB = "ci-scratch/tmp/run-4413/core.dump"
UNTOUCHED = {
    "release-artifacts/v0.0.1/prod/release-notes.md",
    "release-artifacts/v0.0.2/qa/test-report.xml",
    "release-artifacts/v0.0.2/uat/smoke-results.json",
    "release-artifacts/README.md",
}
REAPED = L4_BLOBS | O6_BLOBS


# -- fixtures and helpers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with start_azurite() as running:
        yield running


@pytest.fixture()
def service(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobServiceClient]:
    """A clean Azurite seeded with the seed scenario's storage; the connection string in the env."""
    monkeypatch.setenv(CONN_ENV, azurite.connection_string)
    client = BlobServiceClient.from_connection_string(azurite.connection_string, retry_total=0)
    for container in client.list_containers():
        client.delete_container(container.name)
    seed_blobs(load_scenario("seed"), azurite.connection_string, SeedSummary())
    yield client
    client.close()


def make_config(
    *,
    containers: list[str] | None = None,
    ephemeral: list[str] | None = None,
    max_actions: int = 100,
    extra_accounts: list[dict[str, Any]] | None = None,
) -> Config:
    account: dict[str, Any] = {
        "name": DEV_ACCOUNT,
        "connection_string": {"env": CONN_ENV},
        "ephemeral_containers": ["ci-scratch"] if ephemeral is None else ephemeral,
    }
    if containers is not None:
        account["containers"] = containers
    return Config.model_validate(
        {
            "github": {
                "mode": "enterprise-server",
                "base_url": "https://ghes.example.com/api/v3",
                "org": "acme",
                "release_repos": ["acme/product"],
                "token": {"env": "GITHUB_TOKEN"},
            },
            "azure": {"subscriptions": ["00000000-0000-0000-0000-000000000001"]},
            "enforce": {"max_actions_per_run": max_actions},
            "reaper": {
                "mark_grace": "2d",
                "stale_blob_age": "7d",
                "storage_accounts": [account, *(extra_accounts or [])],
            },
        }
    )


@dataclass
class Journal:
    """Records the journal calls in order: (entry kind, action key, outcome)."""

    entries: list[tuple[str, str, ActionOutcome]] = field(default_factory=list)

    def journal_intent(self, run_id: str, action: Action, at: datetime, snapshot: Any) -> int:
        assert snapshot.get("url") and "sig=" not in str(snapshot)
        self.entries.append(("intent", action.key, ActionOutcome.INTENT))
        return len(self.entries)

    def journal_outcome(
        self,
        run_id: str,
        action: Action,
        outcome: ActionOutcome,
        at: datetime,
        detail: str = "",
        snapshot: Any = None,
    ) -> int:
        self.entries.append(("outcome", action.key, outcome))
        return len(self.entries)


@dataclass
class Wire:
    """Every request attempt the blob clients made: (method, url)."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, method: str, url: str) -> None:
        with self.lock:
            self.requests.append((method, url))

    def methods(self) -> set[str]:
        return {m for m, _ in self.requests}


def sweep(
    config: Config,
    *,
    now: datetime,
    enforce: bool = False,
    apply: bool = False,
    versions: tuple[str, ...] = ("v0.0.1",),
    journal: Journal | None = None,
    settings: BlobSettings = FAST,
    wire: Wire | None = None,
    progress: Any = None,
    counter: CallCounter | None = None,
) -> tuple[list[Finding], list[ActionRecord]]:
    if wire is not None:
        settings = BlobSettings(**{**settings.__dict__, "request_hook": wire.hook})
    return sweep_blobs(
        config,
        run_id="run-1",
        completed_versions=list(versions),
        leftover_stages=["qa", "uat"],
        now=now,
        enforce=enforce,
        apply=apply,
        journal=journal or Journal(),
        clock=lambda: datetime.now(UTC),
        progress=progress or NullProgress(),
        counter=counter or CallCounter(),
        prices=PRICES,
        settings=settings,
    )


def by_name(findings: list[Finding]) -> dict[str, Finding]:
    out = {f.subject.provider_name: f for f in findings if f.subject.kind == "blob"}
    assert len(out) == len([f for f in findings if f.subject.kind == "blob"]), "one finding per blob"
    return out


def names(service: BlobServiceClient) -> set[str]:
    out = set()
    for container in service.list_containers():
        for blob in service.get_container_client(container.name).list_blobs(include=["snapshots"]):
            out.add(f"{container.name}/{blob.name}" + (f"@{blob.snapshot}" if blob.snapshot else ""))
    return out


def tags_of(service: BlobServiceClient, path: str) -> dict[str, str]:
    container, name = path.split("/", 1)
    return service.get_blob_client(container, name).get_blob_tags()


def future() -> datetime:
    """A `now` far enough ahead that every seeded blob is stale (older than 7 days)."""
    return datetime.now(UTC) + timedelta(days=30)


# -- tag queries are built safely ----------------------------------------------------------------------


def test_where_clause_quotes_and_refuses_what_could_break_out() -> None:
    assert tag_equals("release-version", "v0.0.1") == "\"release-version\" = 'v0.0.1'"
    assert where_clause({"a": "b c+-./:=_", "k": ""}, container="ci-scratch") == (
        "\"a\" = 'b c+-./:=_' AND \"k\" = '' AND @container = 'ci-scratch'"
    )
    for key, value in [("k", "v' OR 'x'='x"), ('k"', "v"), ("", "v"), ("k", "x" * 257), ("k", "naïve")]:
        with pytest.raises(TagQueryError):
            tag_equals(key, value)
    with pytest.raises(TagQueryError):
        where_clause({"k": "v"}, container="x' OR '1")
    assert parse_due(format_due(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC))) == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    assert parse_due("not a time") is None


def test_a_version_that_cannot_be_a_tag_value_is_an_error_not_an_injection(service: BlobServiceClient) -> None:
    findings, _ = sweep(make_config(), now=datetime.now(UTC), versions=("v1' OR 'a'='a",))
    errors = [f for f in findings if f.status is Status.ERROR]
    assert len(errors) == 1  # one per account and rule, naming each failed query
    assert errors[0].rule == "L4" and errors[0].subject.kind == "storage_account"
    assert "cannot query v1' OR 'a'='a/qa" in errors[0].message and "/uat" in errors[0].message
    assert "not allow" in errors[0].message
    assert not [f for f in findings if f.rule == "L4" and f.subject.kind == "blob"]


# -- what is found -----------------------------------------------------------------------------------


def test_audit_finds_l4_and_o6_and_leaves_the_exclusions(azurite: Azurite, service: BlobServiceClient) -> None:
    wire = Wire()
    counter = CallCounter()
    findings, records = sweep(make_config(), now=future(), wire=wire, counter=counter)
    found = by_name(findings)

    assert {n for n, f in found.items() if f.status is Status.FAIL} == REAPED
    assert {n for n, f in found.items() if f.status is Status.HELD} == {HELD_BLOB}
    assert not set(found) & UNTOUCHED  # prod, v0.0.2, untagged; release-artifacts is not ephemeral
    assert {n for n, f in found.items() if f.rule == "L4"} == L4_BLOBS
    assert {n for n, f in found.items() if f.rule == "O6"} == O6_BLOBS | {HELD_BLOB}
    assert found["ci-scratch/build-cache/v0.0.1-qa.tar"].evidence["also_matches"] == "O6"
    assert records == []  # an audit plans nothing

    report = found["release-artifacts/v0.0.1/qa/test-report.xml"]
    subject = report.subject
    assert (subject.provider, subject.kind, subject.scope) == ("azure", "blob", DEV_ACCOUNT)
    assert (subject.version, subject.stage) == ("v0.0.1", "qa")
    assert subject.resource_id == f"{azurite.account_url}/release-artifacts/v0.0.1/qa/test-report.xml"
    assert report.evidence["size_bytes"] == "4096" and report.evidence["tier"] == "Hot"
    assert report.evidence["deletion_due"] is None and "not marked" in report.message
    assert report.cost == PRICES.blob(4096, "Hot") and report.cost is not None and report.cost.currency == "USD"
    assert all(f.cost is not None for f in found.values())
    held = found[HELD_BLOB]
    assert held.evidence["hold"] == "INC-4711" and held.subject.version is None

    assert wire.methods() <= {"GET", "HEAD"}  # an audit never mutates
    assert counter.by_provider()["azure-blob"] == len(wire.requests)
    assert all(DEV_ACCOUNT_KEY not in str(f) for f in findings)


def test_fresh_blobs_are_not_o6(service: BlobServiceClient) -> None:
    found = by_name(sweep(make_config(), now=datetime.now(UTC))[0])
    assert set(found) == L4_BLOBS  # nothing is 7 days old yet; L4 does not depend on age


def test_paging_is_followed_across_three_pages_for_listings_and_tag_queries(service: BlobServiceClient) -> None:
    old = service.create_container("paging-old")
    tagged = service.create_container("paging-tagged")
    for i in range(7):
        old.upload_blob(f"old/{i:02d}.log", b"x" * (i + 1))
        tagged.upload_blob(f"tagged/{i:02d}.tar", b"y", tags={"release-version": "v0.0.9", "release-stage": "uat"})
    wire = Wire()
    settings = BlobSettings(**{**FAST.__dict__, "results_per_page": 3})
    config = make_config(containers=["paging-tagged"], ephemeral=["paging-old"])
    findings, _ = sweep(config, now=future(), versions=("v0.0.9",), settings=settings, wire=wire)

    found = by_name(findings)
    assert {n for n, f in found.items() if f.rule == "L4"} == {f"paging-tagged/tagged/{i:02d}.tar" for i in range(7)}
    assert {n for n, f in found.items() if f.rule == "O6"} == {f"paging-old/old/{i:02d}.log" for i in range(7)}
    listing = [q for m, q in parsed(wire) if q.get("comp") == ["list"] and q.get("restype") == ["container"]]
    tag_pages = [q for m, q in parsed(wire) if q.get("comp") == ["blobs"] and "'uat'" in q["where"][0]]
    assert len(listing) == 3 and len(tag_pages) == 3  # 7 blobs over pages of 3, each time
    assert [q.get("maxresults") for q in listing + tag_pages] == [["3"]] * 6
    assert [("marker" in q) for q in listing] == [False, True, True]  # continuation tokens followed
    assert [("marker" in q) for q in tag_pages] == [False, True, True]


def parsed(wire: Wire) -> list[tuple[str, dict[str, list[str]]]]:
    return [(m, parse_qs(urlsplit(u).query)) for m, u in wire.requests]


def test_azurite_tag_query_pages_scan_only_maxresults_blobs(service: BlobServiceClient) -> None:
    """Azurite difference (3.37.0): Find Blobs by Tags with `maxresults=N` looks at the container's first N
    blobs only and returns no NextMarker when fewer than N of them match, so later matches are lost.
    Azure returns a NextMarker instead. The paging test above therefore keeps its tagged blobs in a
    container of their own; with the default page size (1000) the sandbox is unaffected.
    """
    container = service.create_container("azurite-quirk")
    for i in range(5):
        container.upload_blob(f"a{i}", b"x")
        container.upload_blob(f"z{i}", b"x", tags={"k": "v"})
    pages = list(container.find_blobs_by_tags("\"k\"='v'", results_per_page=3).by_page())
    assert [[b.name for b in page] for page in pages] == [[]]  # on Azure: z0..z4 over two pages
    assert [b.name for b in container.find_blobs_by_tags("\"k\"='v'")] == [f"z{i}" for i in range(5)]


@pytest.mark.slow
def test_memory_stays_flat_however_many_blobs(azurite: Azurite, service: BlobServiceClient) -> None:
    small = service.create_container("flat-small")
    large = service.create_container("flat-large")
    name = "tmp/pipeline-run-{:05d}/build-output-with-a-reasonably-long-name.log"
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: small.upload_blob(name.format(i), b"x"), range(250)))
        list(pool.map(lambda i: large.upload_blob(name.format(i), b"x"), range(2000)))

    # the provider's listing is lazy: one page requested per page consumed
    wire = Wire()
    settings = BlobSettings(**{**FAST.__dict__, "results_per_page": 50, "request_hook": wire.hook})
    with BlobAccount.from_connection_string(DEV_ACCOUNT, azurite.connection_string, settings, CallCounter()) as acct:
        pages = acct.list_pages("flat-large")
        assert wire.requests == []
        assert len(next(pages)) == 50 and len(wire.requests) == 1
        assert len(next(pages)) == 50 and len(wire.requests) == 2
        pages.close()

    def peak(container: str) -> int:
        config = make_config(containers=[container], ephemeral=[container])
        tracemalloc.start()
        try:
            findings, _ = sweep(config, now=datetime.now(UTC), versions=(), settings=settings)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert findings == []  # fresh blobs: listed, judged, dropped

    small_peak, large_peak = peak("flat-small"), peak("flat-large")
    tracemalloc.start()
    everything = list(large.list_blobs(include=["tags"], results_per_page=50))
    materialised = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(everything) == 2000
    assert large_peak < materialised / 3, (large_peak, materialised)
    assert large_peak < small_peak * 1.5 + 200_000, (small_peak, large_peak)  # 8x the blobs, same memory


# -- two phases, dry run = apply, holds -------------------------------------------------------------


def test_dry_run_equals_apply_then_mark_then_delete_with_snapshots(service: BlobServiceClient) -> None:
    config = make_config()
    now1 = future()
    service.get_blob_client("release-artifacts", "v0.0.1/qa/coverage.html").create_snapshot()
    before = names(service)

    # enforce, dry run: every FAIL blob gets a MARK, nothing changes on the wire
    wire = Wire()
    _, dry = sweep(config, now=now1, enforce=True, wire=wire)
    assert {r.outcome for r in dry} == {ActionOutcome.PLANNED}
    assert {r.action.kind for r in dry} == {ActionKind.MARK}
    assert {r.action.subject.provider_name for r in dry} == REAPED
    assert wire.methods() <= {"GET", "HEAD"} and names(service) == before

    # enforce --apply: the same set, journaled intent-then-outcome, confirmed, other tags kept
    journal = Journal()
    _, applied = sweep(config, now=now1, enforce=True, apply=True, journal=journal)
    assert {r.action.key for r in applied} == {r.action.key for r in dry}
    assert {r.outcome for r in applied} == {ActionOutcome.DONE}
    assert all("confirmed by re-read" in r.detail for r in applied)
    due = format_due(now1 + GRACE)
    assert tags_of(service, "release-artifacts/v0.0.1/qa/test-report.xml") == {
        "release-version": "v0.0.1",
        "release-stage": "qa",
        "custodian-reap": due,
    }
    assert "custodian-reap" not in tags_of(service, HELD_BLOB)
    assert_journal_order(journal, {r.action.key for r in applied})

    # before the grace: FAIL with "deletion due at", no action
    findings, pending = sweep(config, now=now1 + timedelta(days=1), enforce=True)
    found = by_name(findings)
    assert pending == []
    assert all(
        found[n].evidence["deletion_due"] == due and f"deletion due at {due}" in found[n].message for n in REAPED
    )

    # past the grace: dry run plans the deletes; apply deletes exactly those, snapshots included
    now2 = now1 + GRACE + timedelta(hours=1)
    _, dry2 = sweep(config, now=now2, enforce=True)
    assert {(r.action.kind, r.outcome) for r in dry2} == {(ActionKind.DELETE_RESOURCE, ActionOutcome.PLANNED)}
    journal2 = Journal()
    wire2 = Wire()
    _, deleted = sweep(config, now=now2, enforce=True, apply=True, journal=journal2, wire=wire2)
    assert {r.action.key for r in deleted} == {r.action.key for r in dry2}
    assert {r.action.subject.provider_name for r in deleted} == REAPED
    assert {r.outcome for r in deleted} == {ActionOutcome.DONE}
    assert all("404 BlobNotFound" in r.detail for r in deleted)
    assert_journal_order(journal2, {r.action.key for r in deleted})
    assert sum(1 for m, _ in wire2.requests if m == "DELETE") == len(REAPED)

    left = names(service)
    assert not {n.split("@")[0] for n in left} & REAPED  # base blobs and the snapshot are gone
    assert UNTOUCHED | {HELD_BLOB} <= left

    # the next audit finds nothing left to reap (the held blob stays HELD)
    findings3, _ = sweep(config, now=now2)
    assert {(f.subject.provider_name, f.status) for f in findings3} == {(HELD_BLOB, Status.HELD)}


def assert_journal_order(journal: Journal, keys: set[str]) -> None:
    for key in keys:
        entries = [(kind, outcome) for kind, k, outcome in journal.entries if k == key]
        assert entries == [("intent", ActionOutcome.INTENT), ("outcome", ActionOutcome.DONE)], (key, entries)


def test_the_hold_tag_wins_over_a_due_mark_and_over_a_late_hold(service: BlobServiceClient) -> None:
    now = future()
    past_due = format_due(now - timedelta(hours=1))
    held = service.get_blob_client("ci-scratch", "tmp/run-4413/core.dump")
    held.set_blob_tags({"custodian-hold": "INC-4711", "custodian-reap": past_due})
    late = service.get_blob_client("ci-scratch", "tmp/run-4411/build.log")
    late.set_blob_tags({"custodian-reap": past_due})

    class HoldPlacedJustBeforeActing(NullProgress):
        def begin(self, description: str, total: int) -> None:
            late.set_blob_tags({"custodian-reap": past_due, "custodian-hold": "CAB-9"})

    findings, records = sweep(make_config(), now=now, enforce=True, apply=True, progress=HoldPlacedJustBeforeActing())
    found = by_name(findings)
    assert found[HELD_BLOB].status is Status.HELD and "never marked or deleted" in found[HELD_BLOB].message
    assert HELD_BLOB not in {r.action.subject.provider_name for r in records}
    late_records = [r for r in records if r.action.subject.provider_name == "ci-scratch/tmp/run-4411/build.log"]
    assert [(r.action.kind, r.outcome) for r in late_records] == [(ActionKind.DELETE_RESOURCE, ActionOutcome.SKIPPED)]
    assert "held" in late_records[0].detail
    assert held.exists() and late.exists()
    assert held.get_blob_tags() == {"custodian-hold": "INC-4711", "custodian-reap": past_due}


def test_a_blob_rewritten_after_its_mark_is_marked_again_not_deleted(service: BlobServiceClient) -> None:
    import time

    config = make_config(ephemeral=[])
    now1 = datetime.now(UTC)
    _, marked = sweep(config, now=now1, enforce=True, apply=True)
    assert {r.action.kind for r in marked} == {ActionKind.MARK}
    time.sleep(1.1)  # last-modified has one-second resolution
    blob = service.get_blob_client("release-artifacts", "v0.0.1/qa/test-report.xml")
    blob.upload_blob(b"new content", overwrite=True, tags=blob.get_blob_tags())  # keeps the old mark

    _, records = sweep(config, now=now1 + GRACE + timedelta(hours=1), enforce=True)
    kinds = {r.action.subject.provider_name: r.action.kind for r in records}
    assert kinds.pop("release-artifacts/v0.0.1/qa/test-report.xml") is ActionKind.MARK
    assert set(kinds.values()) == {ActionKind.DELETE_RESOURCE}


def test_blast_radius_cap_aborts_before_the_first_action(service: BlobServiceClient) -> None:
    wire = Wire()
    findings, records = sweep(make_config(max_actions=3), now=future(), enforce=True, apply=True, wire=wire)
    safety = [f for f in findings if f.rule == "SAFETY"]
    assert len(safety) == 1 and "max_actions_per_run=3" in safety[0].message
    assert {r.outcome for r in records} == {ActionOutcome.SKIPPED} and len(records) == len(REAPED)
    assert wire.methods() <= {"GET", "HEAD"}


def test_a_fence_that_refuses_stops_the_remaining_actions(service: BlobServiceClient) -> None:
    calls: list[int] = []

    def fence() -> None:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("leader lease lost")

    journal = Journal()
    records = sweep_blobs(
        make_config(),
        run_id="run-1",
        completed_versions=["v0.0.1"],
        leftover_stages=["qa", "uat"],
        now=future(),
        enforce=True,
        apply=True,
        journal=journal,
        clock=lambda: datetime.now(UTC),
        progress=NullProgress(),
        counter=CallCounter(),
        prices=PRICES,
        settings=FAST,
        fence=fence,
    )[1]
    assert [r.outcome for r in records] == [ActionOutcome.DONE] + [ActionOutcome.SKIPPED] * (len(REAPED) - 1)
    assert all(r.detail == "not taken: leader lease lost" for r in records[1:])
    assert sum(1 for kind, _, _ in journal.entries if kind == "intent") == 1
    marked = [n for n in REAPED if "custodian-reap" in tags_of(service, n)]
    assert len(marked) == 1


# -- read-only on the wire ---------------------------------------------------------------------------


def test_audit_clients_refuse_mutations_on_the_wire(azurite: Azurite, service: BlobServiceClient) -> None:
    wire = Wire()
    settings = BlobSettings(**{**FAST.__dict__, "request_hook": wire.hook})  # read_only defaults to True
    path = ("release-artifacts", "v0.0.1/qa/test-report.xml")
    before = tags_of(service, "/".join(path))
    with BlobAccount.from_connection_string(DEV_ACCOUNT, azurite.connection_string, settings, CallCounter()) as acct:
        with pytest.raises(ReadOnlyViolation, match="PUT"):
            acct.set_tags(*path, {"custodian-reap": "2000-01-01T00:00:00Z"})
        with pytest.raises(ReadOnlyViolation, match="DELETE"):
            acct.delete(*path, etag=None, tags_match=None)
        assert acct.read(*path) is not None  # reads go through
    assert wire.methods() == {"GET", "HEAD"}  # reads only: the refused requests were stopped before sending
    assert tags_of(service, "/".join(path)) == before
    assert "v0.0.1/qa/test-report.xml" in {b.name for b in service.get_container_client(path[0]).list_blobs()}


# -- fail closed -------------------------------------------------------------------------------------


def test_a_failing_container_is_an_error_and_blocks_deletion_in_the_account(service: BlobServiceClient) -> None:
    now = future()
    past_due = format_due(now - timedelta(hours=1))
    for path in REAPED:
        container, name = path.split("/", 1)
        blob = service.get_blob_client(container, name)
        blob.set_blob_tags({**blob.get_blob_tags(), "custodian-reap": past_due})
    config = make_config(containers=["release-artifacts", "no-such-container", "ci-scratch"])
    before = names(service)

    wire = Wire()
    findings, records = sweep(config, now=now, enforce=True, apply=True, wire=wire)
    errors = [f for f in findings if f.status is Status.ERROR]
    assert len(errors) == 1
    error = errors[0]
    assert (error.rule, error.subject.kind, error.subject.scope) == ("L4", "storage_account", DEV_ACCOUNT)
    assert "no-such-container" in error.message and "ContainerNotFound" in error.message
    assert {n for n, f in by_name(findings).items() if f.status is Status.FAIL} == REAPED  # still reported
    assert {r.outcome for r in records} == {ActionOutcome.SKIPPED} and len(records) == len(REAPED)
    assert all("incomplete" in r.detail for r in records)
    assert wire.methods() <= {"GET", "HEAD"} and names(service) == before


class _PartialListing(BaseHTTPRequestHandler):
    """A blob endpoint whose container listing serves page 1, then fails every later page with 503."""

    hits: list[tuple[str, str]] = []

    def log_message(self, fmt: str, *args: Any) -> None:  # silence the per-request log
        return None

    def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", "r1")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.hits.append(("GET", self.path))
        query = parse_qs(urlsplit(self.path).query)
        if "marker" in query:
            error = (
                "<?xml version='1.0' encoding='utf-8'?><Error><Code>ServerBusy</Code><Message>busy</Message></Error>"
            )
            self._send(503, error, {"x-ms-error-code": "ServerBusy"})
            return
        blobs = "".join(
            f"<Blob><Name>tmp/{i}.log</Name><Properties><Last-Modified>Wed, 01 Jan 2025 00:00:00 GMT</Last-Modified>"
            f"<Etag>0x{i}</Etag><Content-Length>1024</Content-Length><BlobType>BlockBlob</BlobType>"
            f"<AccessTier>Hot</AccessTier></Properties><Tags><TagSet><Tag><Key>custodian-reap</Key>"
            f"<Value>2025-02-01T00:00:00Z</Value></Tag></TagSet></Tags></Blob>"
            for i in range(2)
        )
        self._send(
            200,
            f"<?xml version='1.0' encoding='utf-8'?><EnumerationResults ContainerName='scratch'>"
            f"<MaxResults>2</MaxResults><Blobs>{blobs}</Blobs><NextMarker>page2</NextMarker></EnumerationResults>",
        )

    def do_DELETE(self) -> None:
        self.hits.append(("DELETE", self.path))
        self._send(202, "")


def test_a_page_cut_short_by_a_5xx_that_outlasts_retries_blocks_deletion(monkeypatch: pytest.MonkeyPatch) -> None:
    _PartialListing.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PartialListing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/{DEV_ACCOUNT}"
        monkeypatch.setenv(
            CONN_ENV,
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};BlobEndpoint={endpoint};",
        )
        config = make_config(containers=["scratch"], ephemeral=["scratch"])
        settings = BlobSettings(**{**FAST.__dict__, "retry_total": 2})
        now = datetime(2025, 3, 1, tzinfo=UTC)
        findings, records = sweep(config, now=now, enforce=True, apply=True, versions=(), settings=settings)
    finally:
        server.shutdown()
        server.server_close()
    errors = [f for f in findings if f.status is Status.ERROR]
    assert len(errors) == 1 and errors[0].rule == "O6"
    assert "after 2 blob(s)" in errors[0].message and "ServerBusy" in errors[0].message
    assert {f.subject.provider_name for f in findings if f.status is Status.FAIL} == {
        "scratch/tmp/0.log",
        "scratch/tmp/1.log",
    }
    assert {(r.action.kind, r.outcome) for r in records} == {(ActionKind.DELETE_RESOURCE, ActionOutcome.SKIPPED)}
    page2 = [p for m, p in _PartialListing.hits if "marker=page2" in p]
    assert len(page2) == 3  # the first try and two retries
    assert not [h for h in _PartialListing.hits if h[0] == "DELETE"]


def test_costs_are_the_price_table_estimate(service: BlobServiceClient) -> None:
    found = by_name(sweep(make_config(), now=future())[0])
    core = found[HELD_BLOB]
    assert core.cost is not None
    assert core.cost.monthly == PRICES.blob(131072, "Hot").monthly  # type: ignore[union-attr]
    assert core.cost.monthly >= Decimal(0) and "blob Hot" in core.cost.basis
