"""The scale benchmark's machinery (`python -m bench`), at a tiny size, so that it cannot rot.

The fast tests check the pieces (the scenario's sizes, the lower bounds, the decisions check, the
BENCHMARKS.md renderer); the slow one runs the XS scenario's emulators in their own process, our
O1-O5 stage and plain Cloud Custodian against them, and checks both decide alike (and that the
check fails when they do not).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ is not an installed package

from bench.__main__ import STAGES, Emulators, run_stage  # noqa: E402
from bench.baseline import DecisionsDiffer, check_decisions, compare_decisions, run_plain_c7n  # noqa: E402
from bench.bench_config import write_config  # noqa: E402
from bench.figures import lower_bounds, served, stage_figures  # noqa: E402
from bench.render import update  # noqa: E402
from bench.scale_scenario import SIZES, build_plan  # noqa: E402


def test_the_decisions_check_names_every_resource_decided_differently() -> None:
    ours = {("O1", "/subscriptions/a/disks/d1"), ("O5", "/subscriptions/a/vms/vm1")}
    plain = {("O1", "/subscriptions/a/disks/d1"), ("O5", "/subscriptions/a/vms/vm2")}
    with pytest.raises(DecisionsDiffer) as raised:
        check_decisions(ours, plain)
    message = str(raised.value)
    assert "2 resource(s) differently" in message
    assert "O5 /subscriptions/a/vms/vm1: ours selects it, plain c7n does not" in message
    assert "O5 /subscriptions/a/vms/vm2: plain c7n selects it, ours does not" in message
    check_decisions(ours, set(ours))  # the same decisions: no error
    assert compare_decisions(set(), set()) == []


def test_scale_scenarios_have_their_sizes_and_come_from_the_seed() -> None:
    plan = build_plan(SIZES["S"], seed=7)
    arm = sum(sum(types.values()) for types in plan.counts["arm"].values())
    assert arm == 2_000
    assert len(plan.blobs) == 10_000 and len(plan.counts["subscriptions"]) == 2
    assert plan.counts["versions"] == 50 and plan.counts["tags"] == 48 * 3 + 2 + 1
    again = build_plan(SIZES["S"], seed=7)
    assert again.counts == plan.counts and again.blobs == plan.blobs
    assert build_plan(SIZES["S"], seed=8).counts["arm"] != plan.counts["arm"]


def test_lower_bounds_are_list_pages_plus_two_calls_per_mutation() -> None:
    counts = {
        "tags": 250, "releases": 80, "deployments": 80, "users": 101,
        "registries": {"a": 150, "b": 0},
        "arm": {"s1": {"vms": 100, "disks": 101, "nics": 0}},
        "blobs": {"c1": 5001, "c2": 3},
    }  # fmt: skip
    both = lower_bounds(counts, frozenset({"accounts", "reaper"}), {"github": 3, "arm": 1})
    assert both == {"github": 3 + 1 + 1 + 2 + 6, "arm": 1 + 2 + 1 + 2, "acr": 2 + 1, "azure-blob": 2 + 1}
    reaper = lower_bounds(counts, frozenset({"reaper"}), {}, blobs=False)
    assert reaper == {"github": 5, "arm": 4, "acr": 0, "azure-blob": 0}


def test_the_renderer_replaces_the_rows_of_a_rerun(tmp_path: Path) -> None:
    provider = {"calls": 10, "cost": 8, "not_modified": 2, "instance_views": 0, "lower_bound": 4, "ratio": 2.0}
    stage = {
        "stage": "ours-orphans", "seconds": 1.5, "latency_bound_s": 0.2, "rss_self_mib": 100.0,
        "rss_children_mib": 90.0, "providers": dict.fromkeys(("github", "arm", "acr", "azure-blob"), provider),
    }  # fmt: skip
    doc = {
        "size": "XS", "latency_ms": 20, "arm_resources": 30, "subscriptions": 2, "seeding_s": {"a": 1.0},
        "counts": {"versions": 3, "tags": 6, "users": 7, "acr_tokens": 12, "blobs": {"c": 50}},
        "machine": {"date": "2026-12-01", "commit": "abc1234", "cpu": "cpu", "cores": "2", "ram": "1 GiB",
                    "python": "3.11"},
        "stages": [stage],
        "plain_c7n": {"arm_calls": 40, "seconds": 3.0, "instance_views": 6, "processes": 2, "decisions": 3,
                      "differences": 0},
    }  # fmt: skip
    once = update("# Benchmarks\n\nprose stays\n", [doc])
    twice = update(once, [doc])
    assert once == twice and "prose stays" in once
    assert "| 2026-12-01 | XS | 20 ms | abc1234 | 10 | 40 | 4.00 | 1.5 | 3.0 | 2.00 | 6 | 2 | 3 | 0 |" in once
    doc["size"] = "S"
    assert update(once, [doc]).count("| ours-orphans |") == 2


@pytest.mark.slow
def test_xs_ours_and_plain_c7n_decide_alike_over_real_http(tmp_path: Path) -> None:
    emulators = Emulators("XS", 0, tmp_path, azurite=False)
    try:
        ready = emulators.wait_ready(120)
        env, counts = ready["env"], ready["counts"]
        configs = {"arm": write_config(tmp_path, env, counts, blobs=False)}
        spec = next(s for s in STAGES if s[0] == "ours-orphans")
        assert emulators.ask("reset") == "ok"
        ours = run_stage("ours-orphans", spec, configs, tmp_path, profile=False)
        figures = stage_figures("ours-orphans", ours, emulators.ask("stats"), counts, frozenset({"reaper"}), 0)
        emulators.ask("reset")
        plain = run_plain_c7n(env, counts["subscriptions"], tmp_path / "plain")
        plain_served = served(emulators.ask("stats"))
    finally:
        emulators.stop()
    assert plain.problems == [] and plain.processes == 2
    decisions = {(rule, rid) for rule, rid in ours["decisions"]}
    assert {rule for rule, _ in decisions} >= {"O1"}  # the held disks at least
    check_decisions(decisions, plain.decisions)
    assert figures["providers"]["arm"]["calls"] > 0 and plain_served["arm"]["calls"] > 0
    assert figures["providers"]["arm"]["lower_bound"] >= 2 * 6  # two subscriptions, six types
    with pytest.raises(DecisionsDiffer, match="plain c7n selects it, ours does not"):
        check_decisions(decisions - {min(decisions)}, plain.decisions)
    json.dumps(figures)  # what --json writes
