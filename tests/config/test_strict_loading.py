"""Config that cannot lie: strict YAML (duplicates, aliases), bounded durations, one check for validate and the run."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from custodian.config import ConfigError, load_config, parse_config, parse_duration
from custodian.rules.reaping import MIN_MARK_GRACE, ReapSettings

HERE = Path(__file__).parent
BASE = (HERE / "good_base.yaml").read_text()


def test_the_alias_bomb_is_refused_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config(HERE.parent / "fixtures" / "bad" / "config" / "alias_bomb.yaml")
    assert time.monotonic() - started < 2.0  # it took 74 s and 10 GB when expanded


def test_small_aliases_and_merge_keys_still_load() -> None:
    text = BASE.replace("    - {stage: qa,", "    - &qa {stage: qa,") + (
        "    - {<<: *qa, kind: standard, name: qastandardregistry}\n"  # a merge key overriding two keys
    )
    config = parse_config(text, "aliases.yaml")
    first, second = config.azure.registries
    assert (second.stage, second.kind.value, second.name) == ("qa", "standard", "qastandardregistry")
    assert second.resource_group == first.resource_group == "rg-acr"


def test_a_duplicate_key_in_a_list_item_names_its_path_and_both_lines() -> None:
    text = BASE.replace("name: qasecureregistry}", "name: qasecureregistry, name: qastandardregistry}")
    with pytest.raises(ConfigError) as info:
        parse_config(text, "dup.yaml")
    assert info.value.problems == [
        "dup.yaml:11: azure.registries[0].name: duplicate key (first given at line 11; "
        "a key may appear once in a mapping)"
    ]


def test_a_duplicate_mode_never_means_the_last_one() -> None:
    with pytest.raises(ConfigError, match=r"dup.yaml:\d+: mode: duplicate key"):
        parse_config(BASE + "mode: audit\nmode: enforce\n", "dup.yaml")


@pytest.mark.parametrize("value", ["99999999999d", "1" * 5000 + "s", "36501d", "5300w"])
def test_durations_past_a_century_are_a_value_error(value: str) -> None:
    with pytest.raises(ValueError, match="is too long: a duration may be at most 36500d"):
        parse_duration(value)


def test_a_century_is_still_a_duration() -> None:
    assert parse_duration("36500d") == timedelta(days=36500)


def _settings(grace: timedelta) -> ReapSettings:
    zero = timedelta(0)
    return ReapSettings("m", "h", grace, zero, zero, zero, zero, "v", "s", ("qa", "prod"))


def test_the_mark_grace_minimum_is_one_check_for_validate_and_the_run() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + "reaper: {mark_grace: 30s}\n", "grace.yaml")
    with pytest.raises(ValueError) as run_refusal:
        _settings(timedelta(seconds=30))  # what every part of a run builds (ARM reaper and blobs alike)
    validate_problem = info.value.problems[0]
    assert validate_problem.startswith("grace.yaml:")
    assert validate_problem.split(": ", 1)[1] == str(run_refusal.value)  # the same words, key included
    assert _settings(MIN_MARK_GRACE).mark_grace == MIN_MARK_GRACE
    assert parse_config(BASE + "reaper: {mark_grace: 1m}\n").reaper is not None
