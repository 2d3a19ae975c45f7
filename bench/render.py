"""`python -m bench.render OUT.json [...]`: put the figures of `python -m bench --json OUT` into BENCHMARKS.md.

Three tables of BENCHMARKS.md live between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers
(`machines`, `stages`, `c7n`). A row is keyed by its first cells (date, size, latency, commit):
rendering a rerun of the same size on the same day and commit replaces its rows, anything else is
added. Rows are kept sorted by their key. The prose around the tables is left alone.
`--workdir DIR` renders the stages an interrupted `python -m bench --keep DIR` finished.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "BENCHMARKS.md"
KEY_CELLS = 4
HEADERS = {
    "machines": ("date", "size", "latency", "commit", "CPU", "cores", "RAM", "Python", "scenario", "seeding s"),
    "stages": (
        "date",
        "size",
        "latency",
        "commit",
        "stage",
        "GitHub calls / rl cost / bound (ratio)",
        "ARM calls / bound (ratio)",
        "ACR calls / bound",
        "blob calls / bound",
        "s",
        "latency bound s",
        "RSS MiB (ours / c7n)",
    ),
    "c7n": (
        "date",
        "size",
        "latency",
        "commit",
        "ours ARM calls",
        "plain c7n ARM calls",
        "calls plain/ours",
        "ours s",
        "plain c7n s",
        "time plain/ours",
        "plain instance views",
        "c7n processes",
        "decisions",
        "differ",
    ),
}


def _ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def rows_of(doc: Mapping[str, Any]) -> dict[str, list[list[str]]]:
    m = doc["machine"]
    key = [m["date"], doc["size"], f"{doc['latency_ms']} ms", m["commit"]]
    c = doc["counts"]
    blobs = sum(c["blobs"].values())
    scenario = (
        f"{c.get('versions', c['tags'] // 3 + 1)} versions, {c['users']:,} GitHub users,"
        f" {doc['arm_resources']:,} ARM resources"
        f" + {c['acr_tokens']:,} ACR tokens, {blobs:,} blobs, {doc['subscriptions']} subscriptions"
    )
    seeding = f"{sum(doc['seeding_s'].values()):.0f}"
    machines = [[*key, m["cpu"], m["cores"], m["ram"], m["python"], scenario, seeding]]
    stages = []
    for s in doc["stages"]:
        p = s["providers"]
        gh, arm, acr, blob = p["github"], p["arm"], p["acr"], p["azure-blob"]
        stages.append(
            [
                *key,
                s["stage"],
                f"{gh['calls']:,} / {gh['cost']:,} / {gh['lower_bound']:,} ({_ratio(gh['ratio'])})",
                f"{arm['calls']:,} / {arm['lower_bound']:,} ({_ratio(arm['ratio'])})",
                f"{acr['calls']:,} / {acr['lower_bound']:,}",
                f"{blob['calls']:,} / {blob['lower_bound']:,}",
                f"{s['seconds']:.1f}",
                f"{s['latency_bound_s']:.1f}",
                f"{s['rss_self_mib']:.0f} / {s['rss_children_mib']:.0f}",
            ]
        )
    ours = next((s for s in doc["stages"] if s["stage"] == "ours-orphans"), None)
    plain = doc.get("plain_c7n")
    if ours is None or plain is None:  # an interrupted run (--workdir): no side by side
        return {"machines": machines, "stages": stages, "c7n": []}
    oc, os_ = ours["providers"]["arm"]["calls"], ours["seconds"]
    c7n = [
        [
            *key,
            f"{oc:,}",
            f"{plain['arm_calls']:,}",
            f"{plain['arm_calls'] / max(oc, 1):.2f}",
            f"{os_:.1f}",
            f"{plain['seconds']:.1f}",
            f"{plain['seconds'] / max(os_, 1e-9):.2f}",
            f"{plain['instance_views']:,}",
            str(plain["processes"]),
            str(plain["decisions"]),
            str(plain["differences"]),
        ]
    ]
    return {"machines": machines, "stages": stages, "c7n": c7n}


def _table(name: str, rows: list[list[str]]) -> str:
    header = HEADERS[name]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _existing(block: str) -> list[list[str]]:
    rows = []
    for line in block.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if cells[0] != "date":
                rows.append(cells)
    return rows


def update(text: str, documents: list[Mapping[str, Any]]) -> str:
    """`text` with the tables holding the rows of `documents` (replacing rows of the same key)."""
    for name in HEADERS:
        pattern = re.compile(rf"(<!-- bench:{name} -->\n)(.*?)(<!-- /bench:{name} -->)", re.DOTALL)
        found = pattern.search(text)
        if found is None:
            text = text.rstrip("\n") + f"\n\n<!-- bench:{name} -->\n<!-- /bench:{name} -->\n"
            found = pattern.search(text)
            assert found is not None
        new = [row for doc in documents for row in rows_of(doc)[name]]
        keys = {(tuple(row[:KEY_CELLS]), row[KEY_CELLS] if name == "stages" else "") for row in new}
        kept = [
            row
            for row in _existing(found.group(2))
            if (tuple(row[:KEY_CELLS]), row[KEY_CELLS] if name == "stages" else "") not in keys
        ]
        order = {stage: i for i, stage in enumerate(("audit-first", "audit-steady", "enforce-apply", "reaper"))}
        rows = sorted(kept + new, key=lambda r: (r[:KEY_CELLS], order.get(r[KEY_CELLS], 9) if name == "stages" else 0))
        table = _table(name, rows) + "\n"
        text = text[: found.start(2)] + table + text[found.end(2) :]
    return text


def from_workdir(workdir: Path) -> dict[str, Any]:
    """The figures of the stages an interrupted `python -m bench --keep DIR` finished (no side by side)."""
    from bench.__main__ import PARTS, STAGES
    from bench.figures import stage_figures
    from bench.machine import describe_machine

    ready = json.loads((workdir / "env.json").read_text(encoding="utf-8"))
    counts, stages = ready["counts"], []
    for name, _mode, _apply, only, config in STAGES:
        result, rows = workdir / f"{name}.json", workdir / f"{name}.stats.json"
        if result.exists() and rows.exists():
            stage = json.loads(result.read_text(encoding="utf-8"))
            served_rows = json.loads(rows.read_text(encoding="utf-8"))
            figures = stage_figures(
                name, stage, served_rows, counts, PARTS[only], ready["latency_ms"], blobs=config == "full"
            )
            stages.append(figures)
    return {
        "size": ready["size"],
        "latency_ms": ready["latency_ms"],
        "counts": counts,
        "subscriptions": len(counts["subscriptions"]),
        "arm_resources": sum(sum(t.values()) for t in counts["arm"].values()),
        "seeding_s": ready["timings"],
        "machine": describe_machine(ROOT),
        "stages": stages,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.render")
    parser.add_argument("json", nargs="*", type=Path, help="files written by python -m bench --json")
    parser.add_argument("--workdir", type=Path, action="append", default=[], help="an interrupted run's --keep DIR")
    parser.add_argument("--target", type=Path, default=TARGET)
    args = parser.parse_args(argv)
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in args.json]
    documents += [from_workdir(path) for path in args.workdir]
    text = args.target.read_text(encoding="utf-8") if args.target.exists() else "# Benchmarks\n"
    args.target.write_text(update(text, documents), encoding="utf-8")
    print(f"{args.target}: {len(documents)} run(s) rendered")


if __name__ == "__main__":
    main()
