"""What a benchmark ran on: CPU model, cores, RAM, Python, and the commit measured."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def commit(root: Path) -> str:
    """`git rev-parse --short HEAD`, plus " + uncommitted" when the tree is dirty."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return head + (" + uncommitted" if dirty else "")


def describe_machine(root: Path) -> dict[str, str]:
    mem_kib = _first("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem_kib) / 2**20:.1f} GiB" if mem_kib.isdigit() else "unknown"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count() or "unknown"),
        "ram": ram,
        "python": platform.python_version(),
        "commit": commit(root),
    }
