"""Report retention: after a run writes its reports, the oldest run report directories are pruned.

`reports.keep` says how many to keep (`runs`, newest first) and for how long (`max_age`); a run
directory beyond either limit is removed, never the run just written. Only directories this tool
wrote are touched, recognised by their own structure: `<reports dir>/<YYYY-MM-DD>/<run-id>/`
holding the marker `.release-custodian-run` (written by `write_reports`: the run id and start
time, JSON) whose run id is the directory's name, and nothing but report files of this tool
(`FILE_NAMES`) and that marker, each a regular file. Anything else (a file of a person's beside
the reports, a directory without the marker, a symlink, a half-written temp file) leaves that
directory alone. A date directory emptied by pruning is removed too. Ages are reckoned from the
run's start recorded in the marker (never a file's mtime), against `now`, which is passed in.
"""

from __future__ import annotations

import errno
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from custodian.model import RunInfo
from custodian.private_files import write_private_text

RUN_MARKER = ".release-custodian-run"
DEFAULT_KEEP_RUNS = 50
DEFAULT_MAX_AGE = timedelta(days=30)
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Retention:
    """How many run report directories to keep, and for how long (both apply)."""

    runs: int = DEFAULT_KEEP_RUNS
    max_age: timedelta = DEFAULT_MAX_AGE

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError("reports.keep.runs must be at least 1 (the current run is always kept)")
        if self.max_age <= timedelta(0):
            raise ValueError("reports.keep.max_age must be a positive duration")


@dataclass(frozen=True)
class RunDirectory:
    path: Path
    run_id: str
    started_at: datetime


@dataclass(frozen=True)
class Pruned:
    """What one pruning did: the run directories removed, and the ones of ours it left (kept)."""

    removed: tuple[Path, ...] = ()
    kept: int = 0

    @property
    def count(self) -> int:
        return len(self.removed)


def write_marker(directory: Path, run: RunInfo) -> None:
    """Mark `directory` as the report directory of `run` (what pruning recognises)."""
    marker = {"run_id": run.run_id, "started_at": run.started_at.isoformat(), "tool": "release-custodian"}
    write_private_text(directory / RUN_MARKER, json.dumps(marker, sort_keys=True) + "\n")


def _read_marker(directory: Path) -> RunDirectory | None:
    path = directory / RUN_MARKER
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        started = datetime.fromisoformat(data["started_at"])
        run_id = data["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable or not ours: never pruned
    if run_id != directory.name or started.tzinfo is None:
        return None
    return RunDirectory(directory, run_id, started)


def _only_ours(directory: Path, report_files: frozenset[str]) -> bool:
    for entry in directory.iterdir():
        if entry.name != RUN_MARKER and entry.name not in report_files:
            return False
        if entry.is_symlink() or not entry.is_file():
            return False
    return True


def run_directories(reports_dir: Path, report_files: frozenset[str]) -> list[RunDirectory]:
    """Every run report directory of this tool under `reports_dir`, newest first."""
    found: list[RunDirectory] = []
    if not reports_dir.is_dir():
        return found
    for date_dir in reports_dir.iterdir():
        if not _DATE_DIR.fullmatch(date_dir.name) or date_dir.is_symlink() or not date_dir.is_dir():
            continue
        for run_dir in date_dir.iterdir():
            if run_dir.is_symlink() or not run_dir.is_dir():
                continue
            marked = _read_marker(run_dir)
            if marked is not None and _only_ours(run_dir, report_files):
                found.append(marked)
    return sorted(found, key=lambda d: (d.started_at, d.run_id), reverse=True)


def prune_reports(
    reports_dir: Path, current: Path, keep: Retention, now: datetime, report_files: frozenset[str]
) -> Pruned:
    """Remove the run directories beyond `keep.runs` (newest first) or older than `keep.max_age`.

    `current` (the run just written) is never removed and counts as one of the runs kept.
    """
    ours = run_directories(reports_dir, report_files)
    current_resolved = current.resolve()
    kept = 1  # the run just written, whatever the limits say
    doomed: list[RunDirectory] = []
    for directory in ours:
        if directory.path.resolve() == current_resolved:
            continue
        if kept < keep.runs and now - directory.started_at <= keep.max_age:
            kept += 1
        else:
            doomed.append(directory)
    removed = [d.path for d in doomed if _remove(d.path, report_files)]
    return Pruned(tuple(removed), kept)


def _remove(directory: Path, report_files: frozenset[str]) -> bool:
    """Unlink this tool's files (the marker last), then the directory and its emptied date directory.

    File by file, never `rmtree`: a file someone put there meanwhile stays, and so does its directory.
    """
    for name in sorted(report_files):
        (directory / name).unlink(missing_ok=True)
    (directory / RUN_MARKER).unlink(missing_ok=True)
    if not _rmdir_if_empty(directory):
        return False  # not empty any more: what is left is not ours
    _rmdir_if_empty(directory.parent)  # another run's directory, or anything else, keeps the date directory
    return True


def _rmdir_if_empty(directory: Path) -> bool:
    try:
        directory.rmdir()
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
    return True
