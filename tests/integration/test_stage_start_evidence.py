"""When a stage starts: its tag's appearance (tagger date, first sighting, release, deployment), not its commit.

Each test starts the emulators from a small scenario, audits the accounts through the real PyGithub
client over HTTP with `run_lifecycle`, and reads the L1/L2 findings and their evidence.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from custodian.config import Config
from custodian.ledger.store import Ledger
from custodian.model import Finding, RunMode, StartEvidence, Status
from custodian.providers.github.graphql import DEPLOYMENTS_QUERY
from custodian.run import RunOutcome, RunRequest, run_lifecycle
from custodian.sandbox.clock import iso
from custodian.sandbox.runtime import Sandbox
from custodian.sandbox.scenario import parse_scenario
from tests.integration.conftest import bind_config

SHA = "ab9" * 13 + "a"  # the commit both v0.0.9 tags name
ACCOUNTS_ONLY = RunRequest(RunMode.AUDIT, parts=frozenset({"accounts"}))


def scenario_text(uat_tag: str, extra_tags: str = "", deployments: str = "", users: str = "") -> str:
    """v0.0.9: an annotated qa tag and commit of ten days ago, its qa machine user still active."""
    return f"""
stages: [qa, uat, prod]
azure:
  subscriptions: [{{id: 11111111-1111-4111-8111-111111111111}}]
github:
  orgs: [acme]
  site_admin: octo-admin
  repos:
    - name: acme/product
      tags:
        - {{name: v0.0.9-qa, at: now - 10d, annotated: true, sha: {SHA}}}
        - {uat_tag}
{extra_tags}
      deployments:
{deployments or "        []"}
  users:
    - login: v0-0-9-qa-gh-sa
      name: v0.0.9-qa-gh-sa
      created_at: now - 10d
      memberships: [{{org: acme}}]
      impersonation_tokens: [{{scopes: [repo], created_at: now - 10d, expires_at: now + 10d}}]
{users}
"""


class World:
    def __init__(self, sandbox: Sandbox, config: Config, ledger: Ledger) -> None:
        self.sandbox, self.config, self.ledger = sandbox, config, ledger

    def audit(self, ledger: Ledger | None = None) -> RunOutcome:
        return run_lifecycle(self.config, ACCOUNTS_ONLY, ledger=ledger or self.ledger, clock=self.sandbox.clock.now)

    def later(self, delta: timedelta) -> None:
        self.sandbox.clock.advance(delta)

    def github_paths(self) -> list[str]:
        assert self.sandbox.github_server is not None
        return [f"{r.method} {r.path}?{r.query}" for r in self.sandbox.github_server.requests]


@contextmanager
def world(text: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with Sandbox(parse_scenario(text, "evidence.yaml"), workdir=tmp / "sandbox", with_azurite=False) as sandbox:
        config = bind_config(sandbox, tmp, monkeypatch)
        config = config.model_copy(update={"azure": config.azure.model_copy(update={"registries": []})})
        with Ledger.open(config.ledger.url) as ledger:
            yield World(sandbox, config, ledger)


def finding(outcome: RunOutcome, rule: str, account: str) -> Finding:
    [found] = [f for f in outcome.result.findings if f.rule == rule and f.subject.logical_name == account]
    return found


def test_a_lightweight_tag_on_an_old_commit_starts_its_stage_when_first_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = scenario_text(f"{{name: v0.0.9-uat, at: now - 30m, sha: {SHA}}}")  # pushed 30 min ago, 10-day-old commit
    with world(text, tmp_path, monkeypatch) as w:
        first = w.audit()
        l1 = finding(first, "L1", "v0.0.9-qa-gh-sa")
        assert l1.status is Status.PASS and "within the grace period" in l1.message, l1.message
        seen_at = iso(first.result.run.started_at)  # the run that first saw the tag
        assert l1.evidence["start_evidence"] == StartEvidence.FIRST_SIGHTING.value
        assert l1.evidence["evidence_source"] == "tag v0.0.9-uat (first seen by the custodian)"
        assert l1.evidence["next_stage_started_at"] == seen_at
        # no commit is read for a date: one GraphQL query each for tags, releases and deployments, no
        # per-tag read (over REST: one refs listing, one GET for the annotated qa tag)
        paths = w.github_paths()
        assert not any("/commits/" in p for p in paths), paths
        assert w.config.github.api == "graphql" and not any("/git/" in p for p in paths), paths
        assert sum(p.startswith("POST /api/graphql") for p in paths) == 3

        w.later(timedelta(hours=2))
        second = w.audit()
        l1 = finding(second, "L1", "v0.0.9-qa-gh-sa")
        assert l1.status is Status.FAIL, l1.message
        assert l1.evidence["next_stage_started_at"] == seen_at  # the first sighting was kept in the ledger
        assert l1.evidence["start_evidence"] == StartEvidence.FIRST_SIGHTING.value

        # a custodian with no memory of the tag would see it for the first time now: not due yet
        with Ledger.open(f"sqlite:///{tmp_path / 'fresh.sqlite'}") as fresh:
            forgetful = finding(w.audit(fresh), "L1", "v0.0.9-qa-gh-sa")
        assert forgetful.status is Status.PASS and "within the grace period" in forgetful.message


def test_an_annotated_tag_starts_its_stage_at_its_tagger_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = scenario_text(f"{{name: v0.0.9-uat, at: now - 30m, annotated: true, sha: {SHA}}}")
    with world(text, tmp_path, monkeypatch) as w:
        repo = w.sandbox.github.store.find_repo("acme", "product")  # type: ignore[union-attr]
        assert repo is not None
        tag = repo.tags["v0.0.9-uat"]
        assert tag.object_sha is not None
        tagged = repo.tag_objects[tag.object_sha].tagger_date
        assert repo.commits[tag.sha].date == tagged - timedelta(days=10) + timedelta(minutes=30)

        l1 = finding(w.audit(), "L1", "v0.0.9-qa-gh-sa")
        assert l1.status is Status.PASS and "within the grace period" in l1.message, l1.message
        assert l1.evidence["start_evidence"] == StartEvidence.TAGGER_DATE.value
        assert l1.evidence["evidence_source"] == "tag v0.0.9-uat (tagger date)"
        assert l1.evidence["next_stage_started_at"] == iso(tagged)
        assert l1.evidence["due_at"] == iso(tagged + timedelta(hours=1))

        w.later(timedelta(hours=2))
        l1 = finding(w.audit(), "L1", "v0.0.9-qa-gh-sa")
        assert l1.status is Status.FAIL, l1.message
        assert l1.evidence["next_stage_started_at"] == iso(tagged)


def test_a_deployment_or_release_before_the_first_sighting_dates_a_lightweight_tag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uat = f"{{name: v0.0.9-uat, at: now - 3h, sha: {SHA}}}"
    extra = "        - {name: v0.0.9, at: now - 2h30m}"
    deployments = (
        "        - {environment: uat, ref: v0.0.9-uat, at: now - 2h50m, statuses: [{state: success, at: now - 2h45m}]}"
    )
    users = """    - login: v0-0-9-uat-gh-sa
      name: v0.0.9-uat-gh-sa
      created_at: now - 3h
      memberships: [{org: acme}]
      impersonation_tokens: [{scopes: [repo], created_at: now - 3h, expires_at: now + 10d}]
"""
    release_text = scenario_text(uat, extra, deployments, users).replace(
        "      deployments:\n", "      releases: [{tag: v0.0.9, at: now - 2h20m}]\n      deployments:\n"
    )
    with world(release_text, tmp_path, monkeypatch) as w:
        outcome = w.audit()
        qa = finding(outcome, "L1", "v0.0.9-qa-gh-sa")
        assert qa.status is Status.FAIL, qa.message  # uat deployed 2h50m ago: past the 1h grace
        assert qa.evidence["start_evidence"] == StartEvidence.DEPLOYMENT.value
        assert str(qa.evidence["evidence_source"]).endswith("of v0.0.9-uat (uat)")
        uat_l1 = finding(outcome, "L1", "v0.0.9-uat-gh-sa")
        assert uat_l1.status is Status.FAIL, uat_l1.message  # released 2h20m ago
        assert uat_l1.evidence["start_evidence"] == StartEvidence.RELEASE.value
        assert uat_l1.evidence["evidence_source"] == "release v0.0.9"


def test_a_production_deployment_matches_the_environment_case_insensitively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod = "        - {name: v0.0.9, at: now - 5h, annotated: true}"
    deployments = """        - environment: Production
          ref: v0.0.9
          at: now - 4h
          statuses: [{state: success, at: now - 4h}]
        - environment: staging
          ref: v0.0.9-uat
          at: now - 6h
          statuses: [{state: success, at: now - 6h}]
"""
    users = """    - login: v0-0-9-prod-gh-sa
      name: v0.0.9-prod-gh-sa
      created_at: now - 5h
      memberships: [{org: acme}]
      impersonation_tokens: [{scopes: [repo], created_at: now - 5h, expires_at: now + 10d}]
"""
    uat = f"{{name: v0.0.9-uat, at: now - 6h, annotated: true, sha: {SHA}}}"
    with world(scenario_text(uat, prod, deployments, users), tmp_path, monkeypatch) as w:
        assert w.config.github.production_environment == "production"
        outcome = w.audit()
        l2 = finding(outcome, "L2", "v0.0.9-prod-gh-sa")
        assert l2.status is Status.FAIL, l2.message  # deployed 4h ago: past the 1h revocation grace
        repo = w.sandbox.github.store.find_repo("acme", "product")  # type: ignore[union-attr]
        assert repo is not None
        [production] = [d for d in repo.deployments.values() if d.environment == "Production"]
        assert l2.evidence["deployment_id"] == str(production.id)
        assert l2.evidence["production_success_at"] == iso(production.statuses[0].created_at)
        # the staging deployment is not production; deployments are listed unfiltered
        assert "environments" not in DEPLOYMENTS_QUERY  # GraphQL's listing (the default) is unfiltered too
