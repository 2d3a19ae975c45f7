"""Bad input a person types: the terminal says what is wrong, where, and what to do instead.

Offline: config warnings at their lines, a closed stdout (`| head`), unknown options named in the
sub-command's usage, examples in every `--help`, `hold add` when providers cannot be reached and
`hold show`. The lookups against the seed sandbox are tests/integration/test_hold_lookup.py.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from custodian.cli import build_parser, main
from custodian.ledger.store import Ledger

ROOT = Path(__file__).resolve().parents[1]

BASE = """\
github: {mode: enterprise-server, org: acme, release_repos: [acme/product], token: {env: GH}}
azure:
  subscriptions: [s1]
"""


def validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    status = main(["config", "validate", str(path)])
    captured = capsys.readouterr()
    warnings = [" ".join(line.split()) for line in captured.err.splitlines() if line.startswith("warning:")]
    return status, warnings, captured.out


def test_enforce_mode_with_empty_allowlists_and_default_caps_warns_at_each_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE + "mode: enforce\nenforce:\n  allowed_subscriptions: []\n"
    status, warnings, out = validate(tmp_path, text, capsys)
    assert status == 0 and "valid" in out and "4 warnings" in " ".join(out.split())
    path = tmp_path / "c.yaml"
    assert warnings == [
        f"warning: {path}:6: enforce.allowed_subscriptions is empty while mode is enforce: enforce --apply refuses "
        "every Azure action (ACR tokens; the reaper's marks and deletions)",
        f"warning: {path}:5: enforce.allowed_orgs is empty while mode is enforce: enforce --apply refuses every "
        "GitHub action (machine accounts are neither disabled nor deleted)",
        f"warning: {path}:5: enforce.max_actions_per_run is not set: mode is enforce with the default cap of 50 "
        "actions per run; set a cap that suits your estate",
        f"warning: {path}:5: enforce.max_actions_percent is not set: mode is enforce with the default cap of 50% of "
        "a scope's objects per run; set a cap that suits your estate",
    ]


def test_enforce_mode_without_an_enforce_section_points_at_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, warnings, _ = validate(tmp_path, BASE + "mode: enforce\n", capsys)
    assert len(warnings) == 4 and all(w.startswith(f"warning: {tmp_path / 'c.yaml'}:4: enforce.") for w in warnings)
    _, warnings, _ = validate(tmp_path, BASE + "reaper:\n  mark_grace: 1d\n", capsys)
    assert len(warnings) == 2 and all(w.startswith(f"warning: {tmp_path / 'c.yaml'}:4: enforce.") for w in warnings)


def test_very_high_caps_are_named_with_their_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE + (
        "mode: enforce\nenforce:\n  allowed_subscriptions: [s1]\n  allowed_orgs: [acme]\n"
        "  max_actions_per_run: 1000\n  max_actions_percent: 100\n"
    )
    status, warnings, _ = validate(tmp_path, text, capsys)
    assert status == 0
    assert [w.split(": ", 2)[1].rsplit(":", 1)[1] for w in warnings] == ["8", "9"]
    assert "enforce.max_actions_per_run is 1000: very high for mode enforce (above 200)" in warnings[0]
    assert "enforce.max_actions_percent is 100: very high for mode enforce (above 80)" in warnings[1]


def test_a_reaper_with_an_empty_allowlist_warns_but_caps_do_not_in_audit_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, warnings, _ = validate(tmp_path, BASE + "reaper:\n  mark_grace: 24h\n", capsys)
    assert [w.split(": ")[2].split(" is ")[0] for w in warnings] == [
        "enforce.allowed_subscriptions",
        "enforce.allowed_orgs",
    ]
    assert all("while a reaper section is configured" in w for w in warnings)


def test_an_audit_config_without_reaper_gets_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, warnings, out = validate(tmp_path, BASE, capsys)
    assert status == 0 and warnings == [] and "warning" not in out


def test_each_whole_config_problem_is_reported_at_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE + (
        "  registries:\n"
        "    - {stage: qa, kind: secure, subscription: s1, resource_group: rg, name: qareg1}\n"
        "    - {stage: staging, kind: secure, subscription: s1, resource_group: rg, name: stagingreg}\n"
        "    - {stage: uat, kind: secure, subscription: s9, resource_group: rg, name: uatreg1}\n"
    )
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert main(["config", "validate", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "2 problems" in err
    assert f"{path}:6: azure.registries[1].stage: 'staging' is not one of ['qa', 'uat', 'prod']" in err
    assert f"{path}:7: azure.registries[2].subscription: 's9' is not in azure.subscriptions" in err


# -- a closed stdout -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "status"),
    [
        (["config", "schema"], 141),  # print()
        (["rules", "list"], 141),  # rich
        (["--help"], 0),  # argparse swallows the failed write of its help itself
    ],
    ids=["config schema", "rules list", "--help"],
)
def test_a_closed_stdout_ends_quietly(command: list[str], status: int) -> None:
    """`release-custodian config schema | head`: the reader is gone before the output is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "custodian.cli", *command],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == status, done.stderr
    assert done.stderr == ""


def test_a_head_in_a_shell_pipeline_sees_no_traceback() -> None:
    done = subprocess.run(
        f"{sys.executable} -m custodian.cli config schema | head -n 2",
        shell=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.splitlines()[0] == "{"
    assert "Error" not in done.stderr and "Traceback" not in done.stderr


# -- unknown options: the sub-command's usage ----------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        (["audit", "--dry-run"], "release-custodian audit"),
        (["hold", "list", "--bogus"], "release-custodian hold list"),
        (["config", "validate", "c.yaml", "--strict"], "release-custodian config validate"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_an_unknown_option_is_named_in_the_sub_commands_usage(
    argv: list[str], prog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {prog} ")
    assert f"{prog}: error: unrecognized arguments: {argv[-1]}" in err
    assert f"(see `{prog} --help`)" in err


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(" ".join(path), parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _parsers(child, (*path, name))
    return found


PARSERS = _parsers(build_parser(), ("release-custodian",))


@pytest.mark.parametrize(("name", "parser"), PARSERS, ids=[name for name, _ in PARSERS])
def test_every_help_has_examples(name: str, parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    assert "examples" in text, f"`{name} --help` has no examples"
    block = text.split("examples", 1)[1]
    assert "  release-custodian " in block  # a command line, kept as written (RawDescriptionHelpFormatter)


# -- hold add without a provider, hold show ------------------------------------------------------


@pytest.fixture()
def offline_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose GitHub is a closed port of 127.0.0.1 (and no registry): nothing can be looked up."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("GH", "token")
    path = tmp_path / "c.yaml"
    path.write_text(
        f"github: {{mode: enterprise-server, base_url: 'http://127.0.0.1:{port}/api/v3', org: acme, "
        "release_repos: [acme/product], token: {env: GH}}\n"
        f"azure: {{subscriptions: [s1]}}\nledger: {{url: 'sqlite:///{tmp_path / 'ledger.sqlite'}'}}\n"
    )
    return path


def holds_in(config: Path) -> list[tuple[str, str]]:
    with Ledger.open(f"sqlite:///{config.parent / 'ledger.sqlite'}") as ledger:
        return [(h.target, h.placed_by) for h in ledger.list_holds(include_inactive=True, now=datetime.now(UTC))]


def test_unreachable_providers_place_nothing_and_say_how_to_go_on(
    offline_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add = ["hold", "add", "-c", str(offline_config), "--reason", "CAB-9", "--by", "alice"]
    assert main([*add, "--version", "v0.0.1"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "could not check --version v0.0.1" in err and "can GitHub and Azure be reached?" in err
    assert "timeline: acme/product: ConnectionError" in err
    assert "Nothing was placed" in err and "--no-check" in err and "--future" in err
    assert main([*add, "--account", "v0.0.1-qa-gh-sa"]) == 1
    assert "add --no-check." in " ".join(capsys.readouterr().err.split())
    assert holds_in(offline_config) == []

    assert main([*add, "--version", "v0.0.1", "--no-check"]) == 0
    assert "(not looked up: --no-check)" in " ".join(capsys.readouterr().out.split())
    assert main([*add, "--version", "v0.9.0", "--future"]) == 0
    assert "(not looked up: --future)" in " ".join(capsys.readouterr().out.split())
    assert holds_in(offline_config) == [("v0.0.1", "alice"), ("v0.9.0", "alice")]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--account", "v0.0.1-qa-gh-sa", "--future"], "--future is for a version not tagged yet"),
        (["--version", "0.9", "--future"], "is not a release version"),
        (["--version", "v0.0.1", "--until", "now+30d"], "exceeds the maximum hold duration"),
    ],
    ids=["future-account", "future-not-a-version", "too-long"],
)
def test_typed_mistakes_are_refused_before_any_lookup(
    offline_config: Path, extra: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hold", "add", "-c", str(offline_config), "--reason", "r", "--by", "a", *extra]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert fragment in err and "could not check" not in err
    assert holds_in(offline_config) == []


def test_hold_show_tells_who_placed_and_who_released(offline_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ["-c", str(offline_config)]
    assert (
        main(["hold", "add", *config, "--version", "v0.0.1", "--reason", "CAB-1", "--by", "alice", "--no-check"]) == 0
    )
    hold_id = capsys.readouterr().out.split()[1]
    assert main(["hold", "release", hold_id, *config, "--by", "bob", "--reason", "signed off"]) == 0
    capsys.readouterr()
    assert main(["hold", "show", hold_id, *config]) == 0
    out = capsys.readouterr().out
    assert f"hold {hold_id} on version v0.0.1" in out and "released" in out and "by bob: signed off" in out
    rows = [line for line in out.splitlines() if "placed" in line and "alice" in line and "CAB-1" in line]
    assert len(rows) == 1 and any("released" in line and "bob" in line for line in out.splitlines()[2:])
    assert main(["hold", "list", "--all", *config]) == 0
    listing = " ".join(capsys.readouterr().out.split())
    assert "alice" in listing and "bob" in listing

    assert main(["hold", "show", hold_id[:-1], *config]) == 2
    assert f"did you mean {hold_id}?" in capsys.readouterr().err
    assert main(["hold", "release", hold_id[:-1] + "x", *config, "--by", "b", "--reason", "r"]) == 2
    assert f"did you mean {hold_id}?" in capsys.readouterr().err
