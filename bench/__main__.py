"""`python -m bench --size S|M|L [--latency-ms N] [--json OUT] [--profile]`: the scale benchmark (issue 12).

One invocation: the scale scenario of the size (`bench.scale_scenario`) served by the emulators in
their own process with a per-request latency (`bench.emulators`), then, each stage a lifecycle run
in its own process exactly as the CLI runs it (`bench.stage`), on one ledger:

1. `audit-first` and `audit-steady`: `audit` twice (the first run, then the steady state);
2. `enforce-apply`: `enforce --apply`;
3. `reaper`: `audit --only reaper`;
4. the side by side on O1-O5: `ours-orphans` (`audit --only reaper` without blob storage, so that
   both sides read ARM only besides our release timeline) and plain Cloud Custodian
   (`bench.baseline`: one `custodian run` per subscription, O5 by `instance-view`); the benchmark
   exits 3 naming the resources when the two decide differently.

Per stage and provider it prints calls, rate-limit cost, lower bound and ratio (`bench.figures`),
wall time against the latency bound, peak RSS. `--json OUT` writes every figure (render them into
BENCHMARKS.md with `python -m bench.render OUT`); `--profile` samples every stage with pyinstrument
and prints the top of the slowest one's profile. `--blobs N` overrides the size's blob count
(Azurite lists blobs with tags at about 120 a second here), `--max-actions N` caps enforce (a
larger backlog then aborts it before acting: at M, acting on every backlog item takes an hour
here), `--keep DIR` keeps the work directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from bench.baseline import DecisionsDiffer, check_decisions, compare_decisions, run_plain_c7n
from bench.bench_config import write_config
from bench.figures import render_side_by_side, render_stages, served, stage_figures
from bench.machine import describe_machine
from bench.scale_scenario import SIZES

ROOT = Path(__file__).resolve().parents[1]
STAGES = (  # name, mode, apply, only, config
    ("audit-first", "audit", False, None, "full"),
    ("audit-steady", "audit", False, None, "full"),
    ("enforce-apply", "enforce", True, None, "full"),
    ("reaper", "audit", False, "reaper", "full"),
    ("ours-orphans", "audit", False, "reaper", "arm"),
)
PARTS = {None: frozenset({"accounts", "reaper"}), "reaper": frozenset({"reaper"})}
PROFILE_LINES = 60


class Emulators:
    """The `bench.emulators` child: started, waited for, asked for stats, stopped."""

    def __init__(
        self, size: str, latency_ms: int, workdir: Path, seed: int = 1, blobs: int | None = None, azurite: bool = True
    ) -> None:
        command = [sys.executable, "-m", "bench.emulators", "--size", size, "--latency-ms", str(latency_ms)]
        command += ["--seed", str(seed), "--workdir", str(workdir)]
        command += ["--blobs", str(blobs)] if blobs is not None else []
        command += [] if azurite else ["--no-azurite"]
        self.log = (workdir / "emulators.log").open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        self.env_file = workdir / "env.json"

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while not self.env_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulators exited {self.process.returncode}; see {self.log.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the emulators were not ready within {timeout_s:.0f}s; see {self.log.name}")
            time.sleep(0.2)
        document: dict[str, Any] = json.loads(self.env_file.read_text(encoding="utf-8"))
        return document

    def ask(self, command: str) -> Any:
        stdin: IO[str] | None = self.process.stdin
        stdout: IO[str] | None = self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(command + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the emulators died; see {self.log.name}")
        return json.loads(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(RuntimeError, BrokenPipeError, ValueError):  # it is going anyway
                self.ask("quit")
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def run_stage(
    name: str, spec: tuple[str, str, bool, str | None, str], configs: dict[str, Path], workdir: Path, profile: bool
) -> dict[str, Any]:
    _, mode, apply, only, config = spec
    out = workdir / f"{name}.json"
    command = [sys.executable, "-m", "bench.stage", "--config", str(configs[config]), "--mode", mode, "--out", str(out)]
    command += ["--apply"] if apply else []
    command += ["--only", only] if only else []
    command += ["--profile", str(workdir / f"{name}.profile.txt")] if profile else []
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"stage {name} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["process_seconds"] = time.perf_counter() - started
    return result


def benchmark(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], int]:
    emulators = Emulators(args.size, args.latency_ms, workdir, args.seed, args.blobs)
    try:
        ready = emulators.wait_ready(args.ready_timeout)
        env, counts = ready["env"], ready["counts"]
        print(f"size {args.size}: seeded in {sum(ready['timings'].values()):.1f}s {ready['timings']}", flush=True)
        configs = {
            kind: write_config(workdir, env, counts, blobs=kind == "full", max_actions=args.max_actions)
            for kind in ("full", "arm")
        }
        stages, raw = [], {}
        for spec in STAGES:
            name = spec[0]
            emulators.ask("reset")
            raw[name] = run_stage(name, spec, configs, workdir, args.profile)
            rows = emulators.ask("stats")
            (workdir / f"{name}.stats.json").write_text(json.dumps(rows), encoding="utf-8")
            figures = stage_figures(
                name, raw[name], rows, counts, PARTS[spec[3]], args.latency_ms, blobs=spec[4] == "full"
            )
            figures["process_seconds"] = round(raw[name]["process_seconds"], 2)
            stages.append(figures)
            print(render_stages([figures]), flush=True)
        emulators.ask("reset")
        plain = run_plain_c7n(env, counts["subscriptions"], workdir / "plain-c7n")
        rows = emulators.ask("stats")
        (workdir / "plain-c7n.stats.json").write_text(json.dumps(rows), encoding="utf-8")
        plain_rows = served(rows)
    finally:
        emulators.stop()
    ours = {tuple(d) for d in raw["ours-orphans"]["decisions"]}
    differences = compare_decisions(ours, plain.decisions)
    side = {
        "arm_calls": plain_rows["arm"]["calls"],
        "instance_views": plain_rows["arm"]["instance_views"],
        "seconds": round(plain.seconds, 2),
        "processes": plain.processes,
        "rss_children_mib": round(plain.rss_children_kib / 1024, 1),
        "decisions": len(plain.decisions),
        "differences": len(differences),
        "problems": plain.problems,
    }
    document = {
        "size": args.size,
        "max_actions": args.max_actions,
        "seed": args.seed,
        "latency_ms": args.latency_ms,
        "counts": {k: v for k, v in counts.items() if k not in ("arm", "subscriptions")},
        "subscriptions": len(counts["subscriptions"]),
        "arm_resources": sum(sum(t.values()) for t in counts["arm"].values()),
        "seeding_s": ready["timings"],
        "machine": describe_machine(ROOT),
        "stages": stages,
        "plain_c7n": side,
        "our_decisions": len(ours),
    }
    print(render_side_by_side(next(s for s in stages if s["stage"] == "ours-orphans"), side))
    if args.profile:
        slowest = max(stages, key=lambda s: s["seconds"])["stage"]
        text = (workdir / f"{slowest}.profile.txt").read_text(encoding="utf-8")
        document["profile"] = {"stage": slowest, "top": text.splitlines()[:PROFILE_LINES]}
        print(f"\nprofile of the slowest stage, {slowest} (pyinstrument):")
        print("\n".join(document["profile"]["top"]))
    status = 0
    if plain.problems:
        print("plain c7n problems:\n  " + "\n  ".join(plain.problems), file=sys.stderr)
        status = 2
    try:
        check_decisions(ours, plain.decisions)
    except DecisionsDiffer as exc:
        print(f"\nFAIL: {exc}", file=sys.stderr)
        status = 3
    return document, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=[s for s in SIZES if s != "XS"] + ["XS"], required=True, metavar="S|M|L")
    parser.add_argument("--latency-ms", type=int, default=20, help="per-request latency of ARM and GitHub (default 20)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the figures to OUT")
    parser.add_argument("--profile", action="store_true", help="profile every stage (pyinstrument), print the slowest")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--blobs", type=int, default=None, help="override the size's blob count")
    parser.add_argument(
        "--max-actions",
        type=int,
        default=1_000_000,
        metavar="N",
        help="enforce.max_actions_per_run (default: no cap); a backlog above N aborts enforce before acting",
    )
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR", help="work in DIR and keep it")
    parser.add_argument("--ready-timeout", type=float, default=3600, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        document, status = benchmark(args, args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="bench-") as directory:
            document, status = benchmark(args, Path(directory))
    document["total_s"] = round(time.perf_counter() - started, 1)
    document["status"] = status
    if args.json is not None:
        args.json.write_text(json.dumps(document, indent=1, default=str) + "\n", encoding="utf-8")
        print(f"figures: {args.json}")
    print(f"total {document['total_s']:.0f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
