"""The bad-input corpus (`tests/fixtures/bad/`), every case tried as a user would: through the CLI.

- `config/*.yaml`: `config validate` and `enforce --apply -c` exit 2 naming the problem (its `# expect:`
  lines), and nothing is created: no ledger, no reports (the corpus directory is the working directory);
- `runtime.yaml`: valid configs whose ledger cannot be used: exit 2 with the cause, no run row, the
  ledger file byte for byte as it was;
- `scenarios/*.yaml`: `sandbox check` exits 2 with every problem;
- `cli.yaml`, `versions.yaml`: command lines against a config bound to the seed sandbox: exit 2, the
  ledger (every row of every table) and the reports unchanged, no mutating request to any emulator;
- `policies/*.yml`: a broken policy in a copy of the shipped `policies/`: `enforce --apply --only
  reaper` is a COLLECT ERROR (exit 1), no journal entry, no mutating request;
- `providers.yaml`: hostile answers (HTML error pages, truncated JSON, wrong types, looping next
  links, endless pages) from the emulators: a COLLECT ERROR in that scope, nothing acted on there.

Every case is recorded for RELIABILITY.md (`tests/reliability.py`) before it is asserted.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from custodian.cli import main
from custodian.ledger.store import Ledger
from custodian.model import Status
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.httpserver import EmulatorServer, Request, Response, json_response
from tests import reliability
from tests.reaper.processes import ArmHook, write_config
from tests.reaper.support import Reaper, reaper_sandbox

ROOT = Path(__file__).resolve().parents[1]
BAD = Path(__file__).parent / "fixtures" / "bad"
OFFLINE = (  # providers on a closed port: a ledger problem must be found before any of them is asked
    "github: {mode: enterprise-server, base_url: 'https://127.0.0.1:9/api/v3', org: acme, "
    "release_repos: [acme/product], token: {env: RC_CORPUS_TOKEN}}\n"
    "azure: {subscriptions: [s1], arm_endpoint: 'https://127.0.0.1:9', access_token: {env: RC_CORPUS_TOKEN}}\n"
)


def manifest(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load((BAD / name).read_text(encoding="utf-8"))
    return cases


def expects(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", "replace")  # binary.yaml and nul_bytes.yaml on purpose
    return re.findall(r"^# expect: (.+)$", text, re.MULTILINE) or ["the file is empty"]


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`release-custodian ARGV` in-process: (exit code, stdout and stderr with whitespace folded)."""
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse's own refusals
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def message(text: str) -> str:
    """The first error line of an output, for the report."""
    found = re.search(r"error: (.{1,240})", text)
    return (found.group(1) if found else text[:240]).strip()


def files(directory: Path) -> dict[str, str]:
    """Every file under `directory` with its digest."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def ledger_rows(url: str) -> dict[str, tuple[int, str]]:
    """Every table of a SQLite ledger: (row count, digest of its rows)."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {}
        for table in tables:
            rows = sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{table}"'))
            out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


def bad_input(kind: str, case: str, text: str, code: int, unchanged: bool = True, mutations: int = 0) -> None:
    reliability.record("bad_input", case_kind=kind, case=case, message=text, exit=code,
                       ledger_unchanged=unchanged, mutations=mutations)  # fmt: skip


def mutating(servers: list[EmulatorServer]) -> list[Any]:
    return [r for server in servers for r in server.requests if reliability.is_mutation(r)]


# -- configuration files, ledgers that cannot be used, scenarios ---------------------------------------------
CONFIGS = sorted((BAD / "config").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_a_bad_config_is_refused_by_validate_and_by_an_applied_run_and_nothing_is_created(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(BAD)  # a ledger or reports created by mistake would land in the corpus itself
    monkeypatch.delenv("RC_TEST_SURELY_UNSET_VAR", raising=False)
    before = files(BAD)
    relative = str(path.relative_to(BAD))
    validated = cli(["config", "validate", relative], capsys)
    applied = cli(["enforce", "--apply", "-q", "-c", relative], capsys)
    unchanged = files(BAD) == before
    bad_input("config", path.stem, message(validated[1]), validated[0], unchanged)
    assert (validated[0], applied[0]) == (2, 2), (validated, applied)
    for fragment in expects(path):
        assert fragment in validated[1] and fragment in applied[1], (fragment, validated[1], applied[1])
    assert unchanged, "a bad config created or changed a file"
    assert "internal error" not in validated[1] + applied[1]


RUNTIME = manifest("runtime.yaml")


@pytest.mark.parametrize("case", RUNTIME, ids=[c["id"] for c in RUNTIME])
def test_a_ledger_that_cannot_be_used_is_bad_input_before_any_run_row(
    case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RC_CORPUS_TOKEN", "canary-token")
    url = case["ledger"].replace("{here}", str(BAD))
    config = tmp_path / "config.yaml"
    config.write_text(OFFLINE + f"ledger: {{url: '{url}'}}\nreports: {{directory: '{tmp_path / 'reports'}'}}\n")
    before = files(BAD / "runtime")
    outcomes = [cli([*command, "-q", "-c", str(config)], capsys) for command in (["audit"], ["enforce", "--apply"])]
    unchanged = files(BAD / "runtime") == before and sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
    bad_input("ledger", case["id"], message(outcomes[0][1]), outcomes[0][0], unchanged)
    assert [code for code, _ in outcomes] == [2, 2], outcomes
    assert all(case["expect"] in text and "internal error" not in text for _, text in outcomes), outcomes
    assert unchanged, "the ledger file changed, or reports were written"


SCENARIOS = sorted((BAD / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_a_broken_scenario_is_refused_with_every_problem(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = cli(["sandbox", "check", str(path)], capsys)
    bad_input("scenario", path.stem, message(text), code)
    assert code == 2, text
    for fragment in expects(path):
        assert " ".join(fragment.split()) in text, (fragment, text)


# -- command lines and version strings against the seed sandbox ---------------------------------------------
@dataclass
class Seeded:
    reaper: Reaper
    config: Path

    @property
    def servers(self) -> list[EmulatorServer]:
        return [s for s in (self.reaper.sandbox.arm_server, self.reaper.sandbox.github_server) if s is not None]

    def state(self) -> tuple[dict[str, tuple[int, str]], dict[str, str]]:
        return ledger_rows(self.reaper.config.ledger.url), files(self.reaper.tmp / "reports")

    def clear_logs(self) -> None:
        for server in self.servers:
            server.clear_log()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The seed sandbox, a config file bound to it, and a ledger that already holds a run and holds."""
    with reaper_sandbox(tmp_path_factory.mktemp("corpus")) as reaper:
        config = write_config(reaper, reaper.config.ledger.url)
        assert main(["audit", "--only", "accounts", "-q", "-c", str(config)]) in (0, 3)
        yield Seeded(reaper, config)


def refused_without_a_trace(
    seeded: Seeded, kind: str, case: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, bool, list[Any]]:
    before = seeded.state()
    seeded.clear_logs()
    code, text = cli([a.replace("{config}", str(seeded.config)) for a in argv], capsys)
    unchanged, sent = seeded.state() == before, mutating(seeded.servers)
    bad_input(kind, case, message(text), code, unchanged, len(sent))
    reliability.record_requests(f"bad input {kind} {case}", sent, wrong=lambda r: True)
    return code, text, unchanged, sent


CLI = manifest("cli.yaml")


@pytest.mark.parametrize("case", CLI, ids=[c["id"] for c in CLI])
def test_a_mistyped_command_line_is_refused_and_changes_nothing(
    case: dict[str, Any], seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, unchanged, sent = refused_without_a_trace(seeded, "cli", case["id"], case["argv"], capsys)
    assert code == 2, text
    assert case["expect"] in text, text
    assert "internal error" not in text and "Traceback" not in text
    assert unchanged, "the ledger or the reports changed"
    assert sent == []


VERSIONS = manifest("versions.yaml")


@pytest.mark.parametrize("case", VERSIONS, ids=[c["id"] for c in VERSIONS])
@pytest.mark.parametrize(
    "command",
    [
        ["hold", "add", "-c", "{config}", "--reason", "r", "--by", "a", "--version"],
        ["release", "status", "-c", "{config}"],
    ],
    ids=["hold-add", "release-status"],
)
def test_a_string_that_is_not_a_release_version_is_refused(
    case: dict[str, Any], command: list[str], seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    version = str(case["version"])
    code, text, unchanged, sent = refused_without_a_trace(
        seeded, f"version ({command[0]})", case["id"], [*command, version], capsys
    )
    assert code == 2, text
    assert "is not a release version" in text, text
    assert unchanged and sent == []


# -- broken policies -----------------------------------------------------------------------------------------
POLICIES = sorted((BAD / "policies").glob("*.yml"))


def findings_of_last_run(url: str) -> list[tuple[str, str]]:
    with Ledger.open(url) as ledger:
        last = ledger.list_runs(limit=1)[0]
        return [
            (f.subject.scope or f.subject.provider_name or "", f.message)
            for f in ledger.findings_for_run(last.info.run_id)
            if f.rule == "COLLECT" and f.status is Status.ERROR
        ]


@pytest.mark.slow
@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_a_broken_policy_is_a_collect_error_and_nothing_is_acted_on(
    path: Path, seeded: Seeded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    shutil.copy(path, policies / path.name)  # a shipped file of that name is replaced, any other is added
    data = yaml.safe_load(seeded.config.read_text(encoding="utf-8"))
    data["reaper"]["policies_dir"] = str(policies)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    journal_before = ledger_rows(seeded.reaper.config.ledger.url)["action_journal"]
    seeded.clear_logs()
    code, text = cli(["enforce", "--apply", "--only", "reaper", "-q", "-c", str(config)], capsys)
    errors = findings_of_last_run(seeded.reaper.config.ledger.url)
    sent = mutating(seeded.servers)
    unchanged = ledger_rows(seeded.reaper.config.ledger.url)["action_journal"] == journal_before
    shown = next((m for _, m in errors), text)
    bad_input("policy", path.stem, shown[:240], code, unchanged, len(sent))
    reliability.record_requests(f"bad input policy {path.stem}", sent, wrong=lambda r: True)
    assert code == 1, text
    assert errors and all(expects(path)[0] in m for _, m in errors), errors
    assert unchanged and sent == []


# -- hostile providers ---------------------------------------------------------------------------------------
PROVIDERS = manifest("providers.yaml")
Hook = Callable[[Request, Callable[[Request], Response]], Response]


def hostile(case: dict[str, Any]) -> Hook:
    """The hook answering every GET of the case's path with its hostile answer."""
    pattern, answer, pages = re.compile(case["path"], re.IGNORECASE), case["answer"], itertools.count(2)
    method = case.get("method", "GET")

    def hook(request: Request, handle: Callable[[Request], Response]) -> Response:
        if request.method != method or not pattern.search(request.path) or answer.get("loop"):
            return handle(request)
        if "file" in answer:
            body = (BAD / "providers" / answer["file"]).read_bytes()
            response = Response(int(answer["status"]), body, {"Content-Type": answer["type"]})
        elif answer.get("cut"):
            response = handle(request)
            response.body = response.body[: len(response.body) // 2]
        else:  # a next link to a page never seen before, every time
            query = re.sub(r"&?\$?skiptoken=[^&]*|&?page=[^&]*", "", request.raw_query).strip("&")
            link = f"{request.base_url}{request.path}?{query}&$skiptoken={next(pages)}"
            response = json_response(200, {"value": [], "nextLink": link})
        response.fault = "hostile"
        return response

    return hook


def provider_case(case: dict[str, Any]) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if case.get("xfail") else []
    return pytest.param(case, marks=marks, id=case["id"])


@pytest.mark.slow
@pytest.mark.parametrize("case", [provider_case(c) for c in PROVIDERS])
def test_a_hostile_provider_answer_is_a_collect_error_and_nothing_there_is_acted_on(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with reaper_sandbox(tmp_path) as reaper:
        config = write_config(reaper, reaper.config.ledger.url)
        if case.get("api"):  # the REST timeline (tags, deployments) instead of GraphQL
            data = yaml.safe_load(config.read_text(encoding="utf-8"))
            data["github"]["api"] = case["api"]
            config.write_text(yaml.safe_dump(data), encoding="utf-8")
        server = reaper.sandbox.arm_server if case["server"] == "arm" else reaper.sandbox.github_server
        assert server is not None
        if case["answer"].get("loop"):
            server.set_faults(FaultPlan(loop_next=1.0, path_regex=case["path"], methods=("GET",)))
        watched = [s for s in (reaper.sandbox.arm_server, reaper.sandbox.github_server) if s is not None]
        for each in watched:
            each.clear_log()
        with ArmHook(server, hostile(case)):
            code, text = cli(["enforce", "--apply", "--only", "accounts", "-q", "-c", str(config)], capsys)
        errors = findings_of_last_run(reaper.config.ledger.url)
        blocked = str(case["blocked"])
        sent = mutating(watched if blocked == "all" else [server])
        answered = sum(1 for r in server.requests if r.fault in ("hostile", "loop_next"))

        def wrong(record: Any) -> bool:
            return blocked in ("*", "all") or blocked in record.path.lower()

        twice, wrongs = reliability.record_requests(f"hostile provider {case['id']}", sent, wrong=wrong)
        ours = [(scope, m) for scope, m in errors if case["scope"] in scope]
        reliability.record(
            "bad_input",
            case_kind="provider response",
            case=case["id"],
            message=(ours[0][1] if ours else text)[:240],
            exit=code,
            ledger_unchanged=None,  # a run row and its findings are expected; the request log is the proof
            mutations=wrongs,
            hostile_answers=answered,
        )
        reliability.record(
            "fault",
            fault=case["id"],
            where=f"{case['server']} {case['path']}",
            injected=answered,
            outcome="COLLECT ERROR" if ours else "not detected",
            survived=bool(ours) and wrongs == 0 and twice == 0,
        )
    assert code == 1, text
    assert ours, errors
    assert any(case["expect"] in m for _, m in ours), ours
    assert wrongs == 0, [f"{r.method} {r.path}" for r in sent]
    assert answered >= 1
