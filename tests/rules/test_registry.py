"""The rule registry: declared once, read by `rules list` and the README; every rule id the code emits is registered."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from custodian.cli import main
from custodian.model import Status
from custodian.rules.registry import BY_ID, RULES, Purpose, markdown_table, rule

ROOT = Path(__file__).resolve().parents[2]
RULE_ID = re.compile(r"^(L[1-4]|H1|N[12]|O[1-6]|HOLD|COLLECT|SAFETY|[A-Z]{2,}[0-9]*)$")


def test_the_issue_s_rule_set_is_registered_exactly() -> None:
    expected = [
        "L1",
        "L2",
        "L3",
        "L4",
        "H1",
        "N1",
        "N2",
        "O1",
        "O2",
        "O3",
        "O4",
        "O5",
        "O6",
        "HOLD",
        "COLLECT",
        "SAFETY",
        "NOTIFY",  # issue "Owners hear before anything is deleted"
    ]
    assert sorted(BY_ID) == sorted(expected) and len(RULES) == len(expected)


def test_holds_stop_deleting_rules_never_revoking_ones() -> None:
    assert {r.id for r in RULES if r.purpose is Purpose.REVOKE} == {"L1", "L2"}
    assert {r.id for r in RULES if r.purpose is Purpose.DELETE} == {"L3", "L4", "O1", "O2", "O3", "O4", "O6"}
    assert not rule("O5").acts and not rule("H1").acts


def test_an_unknown_rule_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="rule 'Z9' is not registered"):
        rule("Z9")


def test_the_readme_table_is_the_registry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- rules:begin -->\n", 1)[1].split("\n<!-- rules:end -->", 1)[0]
    assert table == markdown_table()


def _emitted_rule_ids() -> set[str]:
    """Rule ids the product code writes as literals: Finding(...)'s first argument and RULE = "X" constants."""
    found: set[str] = set()
    for path in (ROOT / "custodian").rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            called = isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("Finding", "Candidate", "Rule")
            if called and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if names and isinstance(node.value.value, str) and names[0] == node.value.value:
                    found.add(node.value.value)  # e.g. L4 = "L4"
    statuses = {s.value for s in Status}  # Status members (`PASS = "PASS"`): not rule ids
    return {f for f in found if RULE_ID.match(f)} - statuses


def test_every_rule_id_the_code_emits_is_registered() -> None:
    emitted = _emitted_rule_ids()
    assert {"L1", "COLLECT", "SAFETY", "HOLD", "O6", "L4"} <= emitted  # the scan sees what it should
    assert emitted <= set(BY_ID), emitted - set(BY_ID)


def test_rules_list_prints_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [r.id for r in RULES]
    assert {r["id"] for r in rows if r["acts"]} == {"L1", "L2", "L3", "L4", "O1", "O2", "O3", "O4", "O6"}
    assert main(["rules", "list"]) == 0
    assert "SAFETY" in capsys.readouterr().out
