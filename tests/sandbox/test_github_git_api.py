"""The GitHub emulator's git database API (tag refs, annotated tag objects), driven by real PyGithub over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
import requests
from github import Auth, Github, GithubException, InputGitAuthor, UnknownObjectException

from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.github import GithubEmulator, start_github
from custodian.sandbox.github_base import DOCS_URL
from custodian.sandbox.github_store import GithubSeedError, GithubStore
from custodian.sandbox.httpserver import EmulatorServer

TOKEN = "sandbox-token"
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


class Box:
    def __init__(self, emulator: GithubEmulator, server: EmulatorServer, clock: SandboxClock) -> None:
        self.emulator, self.server, self.clock = emulator, server, clock

    @property
    def store(self) -> GithubStore:
        return self.emulator.store

    @property
    def api(self) -> str:
        return self.server.url + "/api/v3"

    def client(self, per_page: int = 2) -> Github:
        return Github(
            auth=Auth.Token(TOKEN),
            base_url=self.api,
            per_page=per_page,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )

    def get(self, path: str) -> requests.Response:
        return requests.get(self.api + path, headers={"Authorization": f"token {TOKEN}"}, timeout=5)

    def queries(self, suffix: str) -> list[str]:
        return [r.query for r in self.server.requests if r.method == "GET" and r.path.endswith(suffix)]


@pytest.fixture(scope="module")
def shared() -> Iterator[Box]:
    clock = SandboxClock(NOW)
    emulator, server = start_github(clock=clock, tokens={TOKEN})
    try:
        yield Box(emulator, server, clock)
    finally:
        server.stop()


@pytest.fixture
def box(shared: Box) -> Box:
    shared.store.clear()
    shared.server.clear_log()
    shared.clock.set(NOW)
    shared.emulator.reset()
    shared.store.add_repo("acme/app")
    return shared


def seed_mixed(store: GithubStore) -> dict[str, dict[str, object]]:
    """Five tags: annotated qa tags, a lightweight uat tag on the v1.0.0 qa commit, one more annotated."""
    qa = store.add_tag("acme/app", "v1.0.0-qa", date=NOW - timedelta(days=10), annotated=True)
    return {
        "v1.0.0-qa": qa,
        "v1.0.0-uat": store.add_tag("acme/app", "v1.0.0-uat", date=NOW - timedelta(minutes=30), sha=str(qa["sha"])),
        "v1.0.1-qa": store.add_tag(
            "acme/app",
            "v1.0.1-qa",
            date=NOW - timedelta(days=2),
            annotated=True,
            tagger_date=NOW - timedelta(days=3),
            commit_date=NOW - timedelta(days=4),
        ),
        "v1.0.1-uat": store.add_tag("acme/app", "v1.0.1-uat", date=NOW - timedelta(days=1)),
        "v1.0.2-qa": store.add_tag("acme/app", "v1.0.2-qa", date=NOW - timedelta(hours=1), annotated=True),
    }


def test_matching_refs_page_and_tell_annotated_from_lightweight(box: Box) -> None:
    seeded = seed_mixed(box.store)
    repo = box.client().get_repo("acme/app")
    refs = list(repo.get_git_matching_refs("tags"))
    assert [r.ref for r in refs] == [f"refs/tags/{name}" for name in sorted(seeded)]
    kinds = {r.ref.removeprefix("refs/tags/"): r.object.type for r in refs}
    assert kinds == {
        "v1.0.0-qa": "tag",
        "v1.0.0-uat": "commit",
        "v1.0.1-qa": "tag",
        "v1.0.1-uat": "commit",
        "v1.0.2-qa": "tag",
    }
    by_name = {r.ref.removeprefix("refs/tags/"): r for r in refs}
    assert by_name["v1.0.0-uat"].object.sha == seeded["v1.0.0-qa"]["sha"]  # the same commit
    assert by_name["v1.0.0-qa"].object.sha == seeded["v1.0.0-qa"]["tag_sha"]
    assert all(r.url.startswith(box.api + "/repos/acme/app/git/refs/tags/") for r in refs)
    assert by_name["v1.0.0-qa"].object.url == f"{box.api}/repos/acme/app/git/tags/{seeded['v1.0.0-qa']['tag_sha']}"
    queried = box.queries("/git/matching-refs/tags")
    assert [parse_qs(q).get("page") for q in queried] == [None, ["2"], ["3"]]
    assert all(parse_qs(q)["per_page"] == ["2"] for q in queried)


def test_git_refs_tags_lists_the_same_and_is_404_without_tags(box: Box) -> None:
    missing = box.get("/repos/acme/app/git/refs/tags")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not Found", "documentation_url": DOCS_URL, "status": "404"}
    assert box.get("/repos/acme/app/git/matching-refs/tags").json() == []
    seed_mixed(box.store)
    page = box.get("/repos/acme/app/git/refs/tags?per_page=3")
    assert [r["ref"] for r in page.json()] == ["refs/tags/v1.0.0-qa", "refs/tags/v1.0.0-uat", "refs/tags/v1.0.1-qa"]
    assert 'rel="next"' in page.headers["Link"] and box.server.url in page.headers["Link"]
    assert set(page.json()[0]) == {"ref", "node_id", "url", "object"}
    assert set(page.json()[0]["object"]) == {"sha", "type", "url"}


def test_matching_refs_with_a_prefix_and_single_ref(box: Box) -> None:
    seed_mixed(box.store)
    repo = box.client().get_repo("acme/app")
    assert [r.ref for r in repo.get_git_matching_refs("tags/v1.0.1")] == ["refs/tags/v1.0.1-qa", "refs/tags/v1.0.1-uat"]
    assert [r["ref"] for r in box.get("/repos/acme/app/git/matching-refs/tags/v1.0.2").json()] == [
        "refs/tags/v1.0.2-qa"
    ]
    assert list(repo.get_git_matching_refs("heads")) == []
    ref = repo.get_git_ref("tags/v1.0.1-uat")
    assert ref.object.type == "commit"
    with pytest.raises(UnknownObjectException):
        repo.get_git_ref("tags/v9.9.9")


def test_git_tag_has_the_tagger_date_and_the_commit(box: Box) -> None:
    seeded = seed_mixed(box.store)
    repo = box.client().get_repo("acme/app")
    tag = repo.get_git_tag(str(seeded["v1.0.1-qa"]["tag_sha"]))
    assert tag.tag == "v1.0.1-qa"
    assert tag.tagger.date == NOW - timedelta(days=3)
    assert tag.object.type == "commit" and tag.object.sha == seeded["v1.0.1-qa"]["sha"]
    assert tag.url == f"{box.api}/repos/acme/app/git/tags/{tag.sha}"
    assert tag.object.url == f"{box.api}/repos/acme/app/git/commits/{tag.object.sha}"
    assert tag.verification.verified is False
    # the commit keeps its own (older) date; the default tagger date is the push time
    assert repo.get_commit(str(seeded["v1.0.1-qa"]["sha"])).commit.committer.date == NOW - timedelta(days=4)
    assert repo.get_git_tag(str(seeded["v1.0.2-qa"]["tag_sha"])).tagger.date == NOW - timedelta(hours=1)
    unknown = box.get("/repos/acme/app/git/tags/" + "0" * 40)
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Not Found" and unknown.json()["documentation_url"] == DOCS_URL
    with pytest.raises(UnknownObjectException):
        repo.get_git_tag(str(seeded["v1.0.1-uat"]["sha"]))  # a commit, not a tag object


def test_a_tag_pushed_in_the_future_of_the_clock_is_not_served_yet(box: Box) -> None:
    later = box.store.add_tag("acme/app", "v2.0.0-qa", date=NOW + timedelta(hours=2), annotated=True)
    box.store.add_tag("acme/app", "v1.0.0-qa", date=NOW - timedelta(hours=2))
    repo = box.client().get_repo("acme/app")
    assert [r.ref for r in repo.get_git_matching_refs("tags")] == ["refs/tags/v1.0.0-qa"]
    assert [t.name for t in repo.get_tags()] == ["v1.0.0-qa"]
    assert box.get(f"/repos/acme/app/git/tags/{later['tag_sha']}").status_code == 404
    assert box.get("/repos/acme/app/commits/v2.0.0-qa").status_code == 422
    box.clock.advance(timedelta(hours=2))
    assert [r.ref for r in repo.get_git_matching_refs("tags")] == ["refs/tags/v1.0.0-qa", "refs/tags/v2.0.0-qa"]
    assert repo.get_git_tag(str(later["tag_sha"])).tag == "v2.0.0-qa"


def test_create_an_annotated_tag_and_its_ref(box: Box) -> None:
    commit = str(box.store.add_tag("acme/app", "v1.0.0-qa", date=NOW - timedelta(days=1))["sha"])
    repo = box.client().get_repo("acme/app")
    box.clock.advance(timedelta(minutes=5))
    tagger = InputGitAuthor("Release Bot", "bot@example.invalid", "2026-11-26T07:00:00Z")
    made = repo.create_git_tag("v1.0.0-uat", "uat of v1.0.0", commit, "commit", tagger)
    assert made.tagger.date == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    assert made.object.sha == commit
    assert not any(r.ref.endswith("v1.0.0-uat") for r in repo.get_git_matching_refs("tags"))  # no ref yet
    ref = repo.create_git_ref("refs/tags/v1.0.0-uat", made.sha)
    assert ref.object.type == "tag" and ref.object.sha == made.sha
    listed = {r.ref: r.object for r in repo.get_git_matching_refs("tags")}
    assert listed["refs/tags/v1.0.0-uat"].sha == made.sha
    assert repo.get_git_tag(made.sha).tagger.name == "Release Bot"
    light = repo.create_git_ref("refs/tags/v1.0.0", commit)
    assert light.object.type == "commit"
    assert box.store.find_repo("acme", "app").tags["v1.0.0"].pushed_at == NOW + timedelta(minutes=5)  # type: ignore[union-attr]

    with pytest.raises(GithubException) as exists:
        repo.create_git_ref("refs/tags/v1.0.0", commit)
    assert exists.value.status == 422 and exists.value.data["message"] == "Reference already exists"
    with pytest.raises(GithubException) as missing:
        repo.create_git_ref("refs/tags/v1.0.9", "f" * 40)
    assert missing.value.status == 422 and missing.value.data["message"] == "Object does not exist"
    with pytest.raises(GithubException) as unknown_object:
        repo.create_git_tag("v1.0.9", "m", "e" * 40, "commit")
    assert unknown_object.value.status == 422
    with pytest.raises(GithubException) as branch:
        repo.create_git_ref("refs/heads/topic", commit)
    assert branch.value.status == 422


def test_seeding_rules_for_tags(box: Box) -> None:
    first = box.store.add_tag(
        "acme/app", "v1.0.0-qa", date=NOW - timedelta(days=10), commit_date=NOW - timedelta(days=11)
    )
    # a second tag on the same commit keeps the commit's date...
    box.store.add_tag("acme/app", "v1.0.0-uat", date=NOW, sha=str(first["sha"]))
    repo = box.store.find_repo("acme", "app")
    assert repo is not None and repo.commits[str(first["sha"])].date == NOW - timedelta(days=11)
    # ... and may not contradict it
    with pytest.raises(GithubSeedError, match="already dated"):
        box.store.add_tag("acme/app", "v1.0.0", date=NOW, sha=str(first["sha"]), commit_date=NOW)
    with pytest.raises(GithubSeedError, match="annotated"):
        box.store.add_tag("acme/app", "v1.0.1-qa", date=NOW, tagger_date=NOW)
