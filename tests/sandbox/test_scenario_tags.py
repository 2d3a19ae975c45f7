"""Scenario tags: lightweight or annotated, pushed at `at`, tagged at `tagger_date`, on a commit of `commit_at`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custodian.cli import main
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.github_store import GithubStore
from custodian.sandbox.scenario import load_scenario, parse_scenario, seed_all

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
SHA = "c" * 40

TAGS = f"""
github:
  orgs: [acme]
  repos:
    - name: acme/product
      tags:
        - {{name: v0.0.9-qa,  at: now - 10d, annotated: true, sha: {SHA}}}
        - {{name: v0.0.9-uat, at: now - 30m, sha: {SHA}}}              # pushed now-30m on a 10-day-old commit
        - {{name: v0.1.0-qa,  at: now - 2h, annotated: true, tagger_date: now - 3h, commit_at: now - 5d}}
        - {{name: v0.1.0-uat, at: now + 1h}}                             # not pushed yet
"""


def seeded() -> GithubStore:
    store = GithubStore()
    seed_all(
        parse_scenario(TAGS, "tags.yaml"),
        clock=SandboxClock(NOW),
        arm_store=None,
        github_store=store,
        blob_connection_string=None,
    )
    return store


def test_tags_seed_annotation_tagger_dates_and_commit_dates() -> None:
    repo = seeded().find_repo("acme", "product")
    assert repo is not None
    qa, uat, next_qa, later = (repo.tags[n] for n in ("v0.0.9-qa", "v0.0.9-uat", "v0.1.0-qa", "v0.1.0-uat"))
    assert qa.annotated and not uat.annotated and next_qa.annotated and not later.annotated
    assert qa.sha == uat.sha == SHA
    assert repo.commits[SHA].date == NOW - timedelta(days=10)  # the commit's date is its first push's
    assert uat.pushed_at == NOW - timedelta(minutes=30)
    assert qa.object_sha is not None and repo.tag_objects[qa.object_sha].tagger_date == NOW - timedelta(days=10)
    assert next_qa.object_sha is not None
    assert repo.tag_objects[next_qa.object_sha].tagger_date == NOW - timedelta(hours=3)
    assert repo.commits[next_qa.sha].date == NOW - timedelta(days=5)
    assert later.pushed_at == NOW + timedelta(hours=1)


def test_the_seed_tags_are_annotated_at_their_push_time() -> None:
    seed = load_scenario("seed")
    [repo] = seed.github.repos
    assert repo.tags and all(tag.annotated and tag.tagger_date is None and tag.commit_at is None for tag in repo.tags)
    store = GithubStore()
    seed_all(seed, clock=SandboxClock(NOW), arm_store=None, github_store=store, blob_connection_string=None)
    rec = store.find_repo("acme", "product")
    assert rec is not None
    for tag in rec.tags.values():
        assert tag.object_sha is not None
        assert rec.tag_objects[tag.object_sha].tagger_date == tag.pushed_at == rec.commits[tag.sha].date


def test_sandbox_check_accepts_the_new_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tags.yaml"
    path.write_text(TAGS)
    assert main(["sandbox", "check", str(path)]) == 0
    assert "ok" in capsys.readouterr().out


def test_sandbox_check_reports_tag_problems_with_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "github:\n"
        "  orgs: [acme]\n"
        "  repos:\n"
        "    - name: acme/product\n"
        "      tags:\n"
        "        - {name: v1-qa, at: now - 1d, tagger_date: now - 2d}\n"
        "        - {name: v1-uat, at: now - 1d, annotated: true, tagger_date: now}\n"
        "        - {name: v1, at: now - 1d, commit_at: now}\n"
    )
    assert main(["sandbox", "check", str(path)]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "github.repos[0].tags[0].tagger_date: only an annotated tag has a tagger date" in err
    assert "(line 6)" in err
    assert "github.repos[0].tags[1].tagger_date: pushed (at) before its tagger date (line 7)" in err
    assert "github.repos[0].tags[2].commit_at: the commit is dated after its tag (line 8)" in err
