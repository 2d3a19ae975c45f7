"""`release-custodian hold ...`: placing, listing and releasing holds; bad input exits 2 and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodian.cli import main
from custodian.ledger.store import Ledger

CONFIG = """\
github: {mode: enterprise-server, org: acme, release_repos: [acme/product], token: {env: GH}}
azure: {subscriptions: [s1]}
holds: {max_duration: 14d}
ledger: {url: "sqlite:///LEDGER"}
"""


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "custodian.yaml"
    path.write_text(CONFIG.replace("LEDGER", str(tmp_path / "ledger.sqlite")))
    return path


def ledger_state(config: Path) -> tuple[list[object], list[object]]:
    url = "sqlite:///" + str(config.parent / "ledger.sqlite")
    with Ledger.open(url) as ledger:
        from datetime import UTC, datetime

        holds = ledger.list_holds(include_inactive=True, now=datetime.now(UTC))
        events = [e for h in holds for e in ledger.hold_events(h.hold_id)]
    return list(holds), events


def test_place_list_release(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add = ["hold", "add", "-c", str(config), "--version", "v0.0.1", "--reason", "CAB-1", "--by", "alice"]
    assert main([*add, "--no-check"]) == 0  # no provider here: the lookup is tests/integration/test_hold_lookup.py
    out = capsys.readouterr().out
    hold_id = out.split()[1]
    assert hold_id.startswith("H-") and "until" in out
    assert main(["hold", "list", "-c", str(config)]) == 0
    listing = capsys.readouterr().out
    assert hold_id in listing and "alice" in listing and "active" in listing
    assert main(["hold", "release", hold_id, "-c", str(config), "--by", "bob", "--reason", "signed off"]) == 0
    assert "released by bob" in capsys.readouterr().out
    assert main(["hold", "list", "-c", str(config)]) == 0
    assert hold_id not in capsys.readouterr().out
    assert main(["hold", "list", "-c", str(config), "--all"]) == 0
    assert "released" in capsys.readouterr().out
    holds, events = ledger_state(config)
    assert len(holds) == 1 and [e.event.value for e in events] == ["placed", "released"]  # type: ignore[attr-defined]


BAD_ADD = [
    (["--version", "0.0.1"], "is not a release version"),
    (["--version", "v0..1"], "is not a release version"),
    (["--version", "v0.0.1; rm -rf /"], "is not a release version"),
    (["--account", "octo-admin"], "does not look like a service account"),
    (["--version", "v0.0.1", "--until", "tomorrow"], "--until: 'tomorrow' is not a time"),
    (["--version", "v0.0.1", "--until", "2026-12-01T00:00"], "has no timezone"),
    (["--version", "v0.0.1", "--until", "now-1h"], "must be after its start"),
    (["--version", "v0.0.1", "--until", "now+15d"], "exceeds the maximum hold duration of 14d"),
    (["--version", "v0.0.1", "--reason", "   "], "reason"),
]


@pytest.mark.parametrize(("extra", "fragment"), BAD_ADD, ids=[" ".join(e) for e, _ in BAD_ADD])
def test_bad_hold_add_exits_2_and_changes_nothing(
    config: Path, extra: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_state(config)
    args = ["hold", "add", "-c", str(config), "--by", "alice"]
    if "--reason" not in extra:
        args += ["--reason", "r"]
    assert main(args + extra) == 2
    assert fragment in " ".join(capsys.readouterr().err.split())
    assert ledger_state(config) == before


@pytest.mark.parametrize(
    "args",
    [
        ["hold", "add", "--version", "v0.0.1", "--account", "v0-0-1-qa-gh-sa", "--reason", "r", "--by", "a"],
        ["hold", "add", "--version", "v0.0.1", "--by", "a"],  # no reason
        ["hold", "add", "--version", "v0.0.1", "--reason", "r"],  # no by
        ["hold", "release", "--by", "a", "--reason", "r"],  # no id
    ],
)
def test_argument_errors_exit_2(config: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    before = ledger_state(config)
    with pytest.raises(SystemExit) as exited:
        main([*args, "-c", str(config)])
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert ledger_state(config) == before


def test_release_unknown_or_twice(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hold", "release", "H-00000000", "-c", str(config), "--by", "b", "--reason", "r"]) == 2
    assert "H-00000000" in capsys.readouterr().err
    add = ["hold", "add", "-c", str(config), "--account", "v0.0.1-qa-gh-sa", "--reason", "r", "--by", "a"]
    assert main([*add, "--no-check"]) == 0
    hold_id = capsys.readouterr().out.split()[1]
    assert main(["hold", "release", hold_id, "-c", str(config), "--by", "b", "--reason", "r"]) == 0
    before = ledger_state(config)
    assert main(["hold", "release", hold_id, "-c", str(config), "--by", "c", "--reason", "again"]) == 2
    assert "already released" in capsys.readouterr().err
    assert ledger_state(config) == before
