"""`enforce --apply --wait [TIMEOUT]`: a bare `--wait` waits while the holder lives, a TIMEOUT bounds
it; a TIMEOUT that is not a positive duration is bad input (exit 2), found before anything is read."""

from __future__ import annotations

import argparse

import pytest

from custodian.cli import build_parser, main
from custodian.commands.runs import wait_seconds


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["enforce", "--apply", *argv])


def test_wait_takes_an_optional_timeout() -> None:
    assert _args().wait is None and wait_seconds(_args()) is None  # no --wait: refuse at once
    bare = _args("--wait")
    assert bare.wait == "" and wait_seconds(bare) is None  # --wait: as long as the holder lives
    assert wait_seconds(_args("--wait", "90s")) == 90 and wait_seconds(_args("--wait", "10m")) == 600


@pytest.mark.parametrize("value", ["0s", "soon", "-5m"])
def test_a_bad_wait_timeout_is_bad_input(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["enforce", "--apply", f"--wait={value}", "-c", "/nonexistent/config.yaml"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--wait:" in err and "/nonexistent" not in err  # refused before the config is even read
