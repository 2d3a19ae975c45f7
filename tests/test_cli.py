"""The CLI's contract for bad input: a clear message and exit code 2."""

from __future__ import annotations

import pytest

from custodian.cli import main


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "sandbox" in out


def test_unknown_command_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bad_faults_spec_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "serve", "--no-azurite", "--faults", "throttle=3"]) == 2
    assert "--faults: fault 'throttle' must be a fraction" in capsys.readouterr().err


def test_bad_page_size_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "serve", "--no-azurite", "--page-size", "0"]) == 2
    assert "--page-size must be >= 1" in capsys.readouterr().err


def test_missing_scenario_file_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "check", "/nonexistent/scenario.yaml"]) == 2
    assert "scenario.yaml" in capsys.readouterr().err
