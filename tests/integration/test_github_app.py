"""Organization mode authenticated as a GitHub App (github.app): PyGithub's App flow through the custodian.

The seed sandbox has App 424242 installed on `acme` (installation 51001) with the permissions README
"Least privileges" lists; the sandbox wrote its private key to its workdir (`GITHUB_APP_*`).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from custodian.cli import main
from custodian.commands.demo import SANDBOX_CONFIG
from custodian.config import ConfigError, GithubAppConfig, GithubMode, SecretRef
from custodian.model import ActionKind, ActionOutcome, RunMode, Status
from custodian.progress import Progress
from custodian.providers.wire import CallCounter, ReadOnlyViolation
from custodian.run import Providers, RunOutcome, RunRequest, RunTuning, run_lifecycle
from custodian.sandbox.github_apps import generate_key_pair
from tests.integration.conftest import Env

APP_ID = 424242
INSTALLATION = 51001
EXCHANGE = f"/api/v3/app/installations/{INSTALLATION}/access_tokens"
READS = {"GET", "HEAD", "GRAPHQL"}


def as_app(env: Env, *, installation_id: int | None = INSTALLATION, key_file: str | None = None) -> None:
    app = env.sandbox.env.github_app
    assert app.app_id == str(APP_ID) and app.installation_id == str(INSTALLATION)
    credentials = GithubAppConfig(
        app_id=APP_ID, private_key=SecretRef(file=Path(key_file or app.key_file)), installation_id=installation_id
    )
    github = env.config.github.model_copy(update={"mode": GithubMode.ORGANIZATION, "token": None, "app": credentials})
    azure = env.config.azure.model_copy(update={"registries": []})  # GitHub only: no ACR token polling
    env.config = env.config.model_copy(update={"github": github, "azure": azure})


def run(env: Env, request: RunRequest, progress: Progress | None = None) -> RunOutcome:
    return run_lifecycle(env.config, request, ledger=env.ledger, clock=env.sandbox.clock.now, progress=progress)


def github_log(env: Env) -> list[tuple[str, str, int]]:
    """The GitHub emulator's requests; GraphQL queries (read-only POSTs, guarded as such) shown as GRAPHQL."""
    assert env.sandbox.github_server is not None
    requests = env.sandbox.github_server.requests
    return [("GRAPHQL" if r.path.endswith("/graphql") else r.method, r.path, r.status) for r in requests]


def github_errors(outcome: RunOutcome) -> list[str]:
    return [f.message for f in outcome.result.findings if f.rule == "COLLECT" and f.subject.provider == "github"]


def test_audit_and_apply_as_the_app(seed_env: Env) -> None:
    as_app(seed_env)
    store = seed_env.sandbox.github.store  # type: ignore[union-attr]

    audit = run(seed_env, RunRequest(RunMode.AUDIT))
    assert not github_errors(audit)
    prod = {f.rule: f.status for f in audit.result.findings if f.subject.provider_name == "v0-0-1-prod-gh-sa"}
    assert (prod["L2"], prod["L3"]) == (Status.FAIL, Status.FAIL)
    # read-only on the wire: the one mutating call is the token exchange, counted like the others
    assert [(m, p, s) for m, p, s in github_log(seed_env) if m not in READS] == [("POST", EXCHANGE, 201)]
    assert audit.api_calls["github"]["POST"] == 1
    assert all(status < 400 for _, _, status in github_log(seed_env))

    seed_env.clear_logs()
    applied = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    assert not github_errors(applied)
    github_records = [r for r in applied.result.actions if r.action.subject.provider == "github"]
    assert {r.action.kind for r in github_records} == {ActionKind.REVOKE_PAT_GRANTS, ActionKind.REMOVE_MEMBERSHIP}
    assert {r.outcome for r in github_records} == {ActionOutcome.DONE}
    assert not any(g["owner"] == "v0-0-1-prod-gh-sa" for g in store.pat_grants("acme"))
    assert "v0-0-1-prod-gh-sa" not in {m.lower() for m in store.members("acme")}
    # the README's permissions suffice: nothing refused (404s are the membership re-reads of the removed)
    assert not [entry for entry in github_log(seed_env) if entry[2] in (401, 403)]

    # neither the installation tokens nor the key reach reports or the ledger
    secrets = [*store.installation_tokens, Path(seed_env.sandbox.env.github_app.key_file).read_text().splitlines()[1]]
    for path in seed_env.tmp.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".csv", ".md", ".html", ".xml", ".sqlite"):
            data = path.read_bytes()
            assert not [s for s in secrets if s.encode() in data], path


class SlowAfterTheTimeline:
    """Progress that pauses once after the release timeline, so the first token reaches its refresh point."""

    def __init__(self) -> None:
        self.paused = False

    def begin(self, description: str, total: int) -> None:
        return None

    def advance(self, message: str) -> None:
        if message.startswith("timeline") and not self.paused:
            self.paused = True
            time.sleep(1.1)

    def note(self, message: str) -> None:
        return None


def test_a_token_expiring_mid_run_is_refreshed_before_any_request_fails(seed_env: Env) -> None:
    as_app(seed_env)
    # 21 s tokens: PyGithub exchanges again once a token is within 20 s of expiry, i.e. after 0-1 s
    seed_env.sandbox.github.installation_token_lifetime_s = 21  # type: ignore[union-attr]
    progress = SlowAfterTheTimeline()
    outcome = run(seed_env, RunRequest(RunMode.AUDIT), progress)
    assert progress.paused
    log = github_log(seed_env)
    exchanges = [status for method, path, status in log if path == EXCHANGE]
    assert len(exchanges) >= 2 and set(exchanges) == {201}
    assert all(status < 400 for _, _, status in log), [entry for entry in log if entry[2] >= 400]
    assert not github_errors(outcome)
    assert len(seed_env.sandbox.github.store.installation_tokens) == len(exchanges)  # type: ignore[union-attr]


def test_the_installation_is_found_when_not_configured(seed_env: Env) -> None:
    as_app(seed_env, installation_id=None)
    outcome = run(seed_env, RunRequest(RunMode.AUDIT))
    assert not github_errors(outcome)
    log = github_log(seed_env)
    assert log[:2] == [("GET", "/api/v3/app/installations", 200), ("POST", EXCHANGE, 201)]


def test_a_wrong_key_is_a_collect_error_and_nothing_is_acted_on(seed_env: Env, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(generate_key_pair()[0])
    as_app(seed_env, key_file=str(wrong))
    store = seed_env.sandbox.github.store  # type: ignore[union-attr]
    grants_before, members_before = store.pat_grants("acme"), store.members("acme")

    outcome = run(seed_env, RunRequest(RunMode.ENFORCE, apply=True))
    errors = github_errors(outcome)
    assert errors and all(f"private_key is not a key of App {APP_ID}" in message for message in errors), errors
    assert all("Traceback" not in message and "BEGIN" not in message for message in errors)
    acted = [r for r in outcome.result.actions if r.action.subject.provider == "github"]
    assert not [r for r in acted if r.outcome is ActionOutcome.DONE]
    assert (store.pat_grants("acme"), store.members("acme")) == (grants_before, members_before)
    assert github_log(seed_env) == [("POST", EXCHANGE, 401)]  # refused once, not asked again per unit
    assert outcome.exit_code.value == 1


@pytest.mark.parametrize(
    ("installation_id", "remove_installation", "expected"),
    [
        (999, False, f"App {APP_ID} has no installation 999 (check github.app.installation_id)"),
        (None, True, f"GitHub App {APP_ID} is not installed on organization 'acme' (its installations: none)"),
    ],
    ids=["unknown-installation", "not-installed"],
)
def test_an_unknown_installation_is_a_collect_error(
    seed_env: Env, installation_id: int | None, remove_installation: bool, expected: str
) -> None:
    if remove_installation:
        seed_env.sandbox.github.store.installations.clear()  # type: ignore[union-attr]
    as_app(seed_env, installation_id=installation_id)
    outcome = run(seed_env, RunRequest(RunMode.AUDIT))
    errors = github_errors(outcome)
    assert errors and all(expected in message for message in errors), errors
    assert not [m for m, _, _ in github_log(seed_env) if m not in READS and m != "POST"]


def test_a_key_that_is_not_a_pem_is_a_config_error_before_any_call(seed_env: Env, tmp_path: Path) -> None:
    garbage = tmp_path / "app.pem"
    garbage.write_text("-----BEGIN RSA PRIVATE KEY-----\nnot base64 at all\n-----END RSA PRIVATE KEY-----\n")
    as_app(seed_env, key_file=str(garbage))
    with pytest.raises(ConfigError, match=r"github\.app\.private_key: not a PEM private key"):
        run(seed_env, RunRequest(RunMode.AUDIT))
    assert github_log(seed_env) == []


def test_the_audit_guard_lets_only_the_exchange_through(seed_env: Env) -> None:
    as_app(seed_env)
    providers = Providers(seed_env.config, read_only=True, counter=CallCounter(), tuning=RunTuning())
    try:
        session = providers.github
        assert session.get_json("/orgs/acme")["login"] == "acme"  # the exchange, then the read
        with pytest.raises(ReadOnlyViolation):
            session.request("POST", "/orgs/acme/personal-access-tokens", {"action": "revoke", "pat_ids": [1]})
        with pytest.raises(ReadOnlyViolation):  # the exchange's path, but on the session's own requester
            session.request("POST", f"/app/installations/{INSTALLATION}/access_tokens", {})
        with pytest.raises(ReadOnlyViolation):
            session.request("DELETE", "/orgs/acme/memberships/v0-0-1-prod-gh-sa")
        exchange = session.requester.auth._integration.requester  # type: ignore[union-attr]
        with pytest.raises(ReadOnlyViolation):  # the exchange's requester: another installation is refused
            exchange.requestJsonAndCheck("POST", "/app/installations/51002/access_tokens", input={})
    finally:
        providers.close()
    assert [(m, p, s) for m, p, s in github_log(seed_env) if m not in READS] == [("POST", EXCHANGE, 201)]
    assert providers.counter.snapshot()["github"] == {"GET": 1, "POST": 1}


def test_the_documented_config_shape_through_the_cli(
    seed_env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SANDBOX_CONFIG.read_text()
    text = text.replace("mode: enterprise-server", "mode: organization").replace(
        "  token: {env: GITHUB_TOKEN}\n",
        "  app:\n"
        "    app_id: ${GITHUB_APP_ID}\n"
        '    private_key: {file: "${GITHUB_APP_PRIVATE_KEY_FILE}"}\n'
        "    installation_id: ${GITHUB_APP_INSTALLATION_ID}\n",
    )
    config = seed_env.tmp / "app-config.yaml"
    config.write_text(text)
    monkeypatch.chdir(seed_env.tmp)
    assert main(["config", "validate", str(config)]) == 0
    assert main(["audit", "-c", str(config), "--only", "accounts"]) == 3  # failing findings, none of them COLLECT
    assert "COLLECT" not in capsys.readouterr().out
    assert ("POST", EXCHANGE, 201) in github_log(seed_env)
