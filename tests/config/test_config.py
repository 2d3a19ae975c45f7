"""Configuration: the example configs load, and every broken config in the bad-input corpus says what is wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from custodian.cli import main
from custodian.config import ConfigError, load_config

HERE = Path(__file__).parent
FIXTURES = HERE.parent / "fixtures" / "bad"  # the bad-input corpus: its configs are in config/
BAD = sorted((FIXTURES / "config").glob("*.yaml"))


def expected_fragment(path: Path) -> str:
    text = path.read_bytes().decode("utf-8", "replace")  # binary.yaml is not UTF-8 on purpose
    match = re.search(r"^# expect: (.+)$", text, re.MULTILINE)
    return match.group(1) if match else "the file is empty"


def test_good_config_loads_with_defaults() -> None:
    config = load_config(HERE / "good_base.yaml")
    assert config.lifecycle.retention.total_seconds() == 24 * 3600
    assert config.mode.value == "audit"
    assert config.digest() == load_config(HERE / "good_base.yaml").digest()


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_is_explained(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    relative = path.relative_to(FIXTURES)
    with pytest.raises(ConfigError) as info:
        load_config(relative)
    assert expected_fragment(path) in str(info.value)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_config_validate_exits_2_and_names_the_problem(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(FIXTURES)
    before = sorted(p.name for p in FIXTURES.rglob("*"))
    assert main(["config", "validate", str(path.relative_to(FIXTURES))]) == 2
    err = capsys.readouterr().err
    assert expected_fragment(path) in " ".join(err.split())
    assert sorted(p.name for p in FIXTURES.rglob("*")) == before  # nothing was created or changed


def test_config_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(HERE / "good_base.yaml")]) == 0
    assert "valid" in capsys.readouterr().out


def test_config_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False
    assert {"github", "azure"} <= set(schema["required"])


def test_relative_paths_are_resolved_against_the_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """c7n and the scheduler run elsewhere: every path a config names is made absolute when it is loaded."""
    folder = tmp_path / "conf"
    folder.mkdir()
    text = (HERE / "good_base.yaml").read_text()
    text += (
        "\nreports: {directory: out/reports}\nledger: {url: 'sqlite:///state/ledger.sqlite'}\n"
        "reaper: {mark_grace: 24h, policies_dir: ../my-policies, price_table: prices.yaml}\n"
    )
    text = text.replace("azure:\n", "azure:\n  ca_bundle: tls/ca.pem\n", 1)
    (folder / "config.yaml").write_text(text)
    (folder / "tls").mkdir()
    (folder / "tls" / "ca.pem").write_text("")
    (folder / "prices.yaml").write_text("")
    (tmp_path / "my-policies").mkdir()
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf/config.yaml"))
    assert config.azure.ca_bundle == folder / "tls" / "ca.pem"
    assert config.reports.directory == folder / "out" / "reports"
    assert config.ledger.url == f"sqlite:///{folder / 'state' / 'ledger.sqlite'}"
    assert config.reaper is not None
    assert config.reaper.policies_dir == tmp_path / "my-policies"
    assert config.reaper.price_table == folder / "prices.yaml"
