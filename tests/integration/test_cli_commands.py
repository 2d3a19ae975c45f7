"""The CLI against the seed sandbox: audit/enforce exit codes, release status, report list/show, demo."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest

from custodian.cli import main
from custodian.commands.demo import SANDBOX_CONFIG
from tests.integration.conftest import Env


@pytest.fixture()
def cli_env(seed_env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.chdir(seed_env.tmp)  # the sandbox config keeps its ledger and reports relative to the cwd
    return seed_env


def test_audit_enforce_and_reports_through_the_cli(cli_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(SANDBOX_CONFIG)
    assert main(["audit", "-c", config, "--only", "accounts", "--log-format", "json"]) == 3
    captured = capsys.readouterr()
    assert "exit code: 3" in captured.out
    log_lines = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    assert log_lines and all({"ts", "level", "msg"} <= set(line) for line in log_lines)

    assert main(["enforce", "-c", config, "--only", "accounts"]) == 3  # dry run: the plan, no change
    assert "planned" in capsys.readouterr().out
    assert cli_env.read_only(), cli_env.requests()

    assert main(["enforce", "-c", config, "--only", "accounts", "--apply"]) == 0
    assert main(["audit", "-c", config, "--only", "accounts"]) == 0
    capsys.readouterr()

    assert main(["report", "list", "-c", config]) == 0
    listing = capsys.readouterr().out
    assert listing.count("audit") >= 2 and "enforce" in listing
    assert main(["report", "show", "latest", "-c", config]) == 0
    shown = capsys.readouterr().out
    assert "report.html" in shown and "findings.json" in shown
    assert main(["report", "show", "no-such-run", "-c", config]) == 2


def test_release_status(cli_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(SANDBOX_CONFIG)
    assert main(["release", "status", "v0.0.1", "-c", config]) == 0
    out = capsys.readouterr().out
    assert "v0.0.1 timeline" in out and "tag v0.0.1-qa" in out and "success" in out
    assert "v0.0.1-uat-gh-sa" in out
    assert main(["release", "status", "v9.9.9", "-c", config]) == 2
    assert "no tag, release or deployment" in capsys.readouterr().err
    assert main(["release", "status", "latest", "-c", config]) == 2
    assert "is not a release version" in capsys.readouterr().err


@pytest.mark.azurite
def test_demo_runs_the_story_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # wide tables: no word folded across lines
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--log-format", "json"]) == 0
    captured = capsys.readouterr()
    text = captured.out
    flat = " ".join(text.split())
    # two registries hold a token of the same name: each progress line says which one
    assert "delete_account qaregistry/v0-0-1-qa-acr-sa: done" in captured.err
    assert "delete_account qasecureregistry/v0-0-1-qa-acr-sa: done" in captured.err
    assert "1. audit" in flat and "2. enforce --apply" in flat and "mark grace has passed" in flat
    assert "4. audit again" in flat
    # mark, notify, then delete: owners are told in step 2 (the mbox), the due deletions wait for step 3
    second = flat.split("2. enforce --apply")[1].split("3. enforce --apply")[0]
    assert "told release-managers@example.com (mailbox)" in second and "waiting for their notice" in second
    assert "delete_account" not in second and "9 delete_account, 26 delete_resource" in flat.split("3. enforce")[1]
    assert len(mailbox.mbox(str(out / "notices.mbox"))) == 2
    first = flat.split("1. audit")[1].split("2. enforce --apply")[0]
    assert "found 42 violation(s)" in first  # the same every run: blobs are stale before the story starts
    assert "waste found 218.43 USD/month, reclaimed 218.43 USD/month" in flat
    assert "nothing is failing" in flat.split("4. audit again")[1]
    held_names = (
        "v0.0.0-prod-acr-sa",
        "v0.0.0-prod-gh-sa",
        "v0.0.0-uat-gh-sa",
        "disk-forensics-evidence-01",
        "core.dump",
    )
    for held in held_names:
        assert held in flat.split("held and untouched:")[1]
    assert len(list(out.glob("reports/*/*/report.html"))) == 4
    assert len(list(out.glob("reports/*/*/cost.csv"))) == 4
    # what must survive the story: exclusions, the held disk, v0.0.2 (not in prod yet) and prod
    remaining = flat.split("Azure resources still in place after the demo")[1]
    assert "private endpoint NIC" in remaining and "held:" in remaining
    assert "v0.0.2" in remaining and "prod" in remaining
    assert "pvc-" in remaining and "asr" in remaining.lower()
    assert "vm-v002-uat-app" in remaining and "vm-v001-prod-app" in remaining
    assert "v001-qa" not in remaining and "v001-uat" not in remaining  # v0.0.1's QA/UAT leftovers are gone
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "precious.txt").write_text("keep")
    assert main(["demo", "--out", str(tmp_path / "other")]) == 2
    assert (tmp_path / "other" / "precious.txt").read_text() == "keep"


def test_demo_exits_1_naming_the_incomplete_step_and_runs_your_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`demo --config`: your configuration against the sandbox; a step that is incomplete makes it exit 1."""
    monkeypatch.setenv("COLUMNS", "250")
    text = SANDBOX_CONFIG.read_text(encoding="utf-8")
    head, rest = text.split("\n# Rule L4 and orphans", 1)
    text = head + "\nmode: audit" + rest.split("\nmode: audit", 1)[1]  # accounts only: no reaper section
    ghost = (
        "    - {stage: qa, kind: standard, subscription: 11111111-1111-4111-8111-111111111111, "
        "resource_group: rg-release-registries, name: ghostregistry}\n"
    )
    text = text.replace("\nstages: [qa, uat, prod]", ghost.rstrip("\n") + "\n\nstages: [qa, uat, prod]", 1)
    config = tmp_path / "my-config.yaml"
    config.write_text(text, encoding="utf-8")
    assert "reaper:" not in text and "ghostregistry" in text
    assert main(["demo", "--out", str(tmp_path / "demo"), "--config", str(config), "--log-format", "json"]) == 1
    flat = " ".join(capsys.readouterr().out.split())
    assert "step 1 (audit (read-only)) was incomplete:" in flat and "ghostregistry" in flat
