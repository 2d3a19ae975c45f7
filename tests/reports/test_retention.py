"""Report retention (`reports.keep`): the oldest run report directories go, by count and by age.

Runs are written for real by `write_reports` (marker and all) into a temporary reports directory;
time is passed in (the run's own times), never read. Whatever this tool did not write stays.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custodian.cli import main
from custodian.config import load_config
from custodian.model import RunInfo, RunMode, RunResult
from custodian.reports import write_reports
from custodian.reports.retention import RUN_MARKER, Retention, run_directories
from custodian.reports.writer import FILE_NAMES, ReportPaths

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OURS = frozenset(FILE_NAMES.values())
GOOD_BASE = Path(__file__).parents[1] / "config" / "good_base.yaml"


def run_at(reports: Path, index: int, at: datetime, keep: Retention | None) -> ReportPaths:
    info = RunInfo(f"run-{index:03d}", at, at + timedelta(seconds=5), RunMode.AUDIT, False, "digest", "test")
    return write_reports(RunResult(info, ()), reports, formats=("json", "csv"), keep=keep)


def names(reports: Path) -> list[str]:
    return [d.run_id for d in run_directories(reports, OURS)]


def test_pruning_by_count_keeps_the_newest_and_says_how_many(tmp_path: Path) -> None:
    keep = Retention(runs=3, max_age=timedelta(days=365))
    for index in range(5):  # 5 runs, 6 hours apart, across two dates
        paths = run_at(tmp_path, index, T0 + timedelta(hours=6 * index), None)
    assert len(names(tmp_path)) == 5 and paths.pruned == ()
    paths = run_at(tmp_path, 5, T0 + timedelta(hours=30), keep)
    assert names(tmp_path) == ["run-005", "run-004", "run-003"]  # the current run counts as one of the three
    assert [p.name for p in paths.pruned] == ["run-002", "run-001", "run-000"]
    assert paths.pruned_summary() == "3 older run report directories (reports.keep)"
    assert not (tmp_path / "2026-03-01").exists()  # its runs all pruned: the emptied date directory goes too
    assert (paths.directory / "findings.json").is_file() and (paths.directory / RUN_MARKER).is_file()


def test_pruning_by_age_uses_the_run_times_passed_in(tmp_path: Path) -> None:
    keep = Retention(runs=100, max_age=timedelta(days=30))
    run_at(tmp_path, 0, T0, None)
    run_at(tmp_path, 1, T0 + timedelta(days=20), None)
    paths = run_at(tmp_path, 2, T0 + timedelta(days=31), keep)  # run-000 is 31 days old by then
    assert names(tmp_path) == ["run-002", "run-001"] and [p.name for p in paths.pruned] == ["run-000"]
    old = run_at(tmp_path, 3, T0 - timedelta(days=400), keep)  # a run dated long ago: never prunes itself
    assert old.directory.is_dir() and "run-003" in names(tmp_path)


def test_only_directories_this_tool_wrote_are_ever_pruned(tmp_path: Path) -> None:
    keep = Retention(runs=1, max_age=timedelta(days=1))
    for index in range(3):
        run_at(tmp_path, index, T0 + timedelta(hours=index), None)
    day = tmp_path / "2026-03-01"
    foreign = [
        tmp_path / "notes.txt",  # a file of someone's in the reports directory
        day / "someone-else" / "findings.json",  # run-like, but no marker
        tmp_path / "not-a-date" / "run-x" / "findings.json",  # a marker where no run directory would be
    ]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("keep me\n")
    (tmp_path / "not-a-date" / "run-x" / RUN_MARKER).write_bytes((day / "run-000" / RUN_MARKER).read_bytes())
    (day / "run-001" / "my-notes.md").write_text("a person's file in a run directory\n")
    (day / "run-002" / RUN_MARKER).write_text('{"run_id": "another-run", "started_at": "2020-01-01T00:00:00+00:00"}')
    paths = run_at(tmp_path, 9, T0 + timedelta(days=10), keep)
    assert [p.name for p in paths.pruned] == ["run-000"]
    assert all(path.read_text() == "keep me\n" for path in foreign)
    assert (day / "run-001" / "findings.json").is_file()  # a foreign file inside: left whole
    assert (day / "run-002" / "findings.json").is_file()  # a marker naming another run: not ours
    assert day.is_dir()


def test_a_run_without_keep_prunes_nothing(tmp_path: Path) -> None:
    for index in range(3):
        paths = run_at(tmp_path, index, T0 + timedelta(days=100 * index), None)
    assert paths.pruned == () and len(names(tmp_path)) == 3


def test_retention_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Retention(runs=0)
    with pytest.raises(ValueError, match="positive"):
        Retention(max_age=timedelta(0))


def _config(tmp_path: Path, keep: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD_BASE.read_text() + f"reports:\n  keep: {keep}\n")
    return path


def test_keep_is_configured_with_sane_defaults(tmp_path: Path) -> None:
    default = load_config(GOOD_BASE).reports.keep.retention()
    assert default == Retention(runs=50, max_age=timedelta(days=30))
    configured = load_config(_config(tmp_path, "{runs: 7, max_age: 12h}")).reports.keep.retention()
    assert configured == Retention(runs=7, max_age=timedelta(hours=12))


@pytest.mark.parametrize(
    ("keep", "problem"),
    [
        ("{runs: 0}", "reports.keep.runs"),
        ("{runs: -3}", "reports.keep.runs"),
        ("{runs: '10'}", "reports.keep.runs"),
        ("{runs: 2.5}", "reports.keep.runs"),
        ("{max_age: 0s}", "reports.keep.max_age"),
        ("{max_age: 30}", "reports.keep.max_age"),
        ("{max_age: forever}", "reports.keep.max_age"),
        ("{count: 5}", "reports.keep.count"),
    ],
)
def test_config_validate_refuses_bad_keep_values(
    tmp_path: Path, keep: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "validate", str(_config(tmp_path, keep))]) == 2
    assert problem in capsys.readouterr().err


def test_a_rendering_error_mid_stream_leaves_no_new_file(tmp_path: Path) -> None:
    import jinja2

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "report.html.j2").write_text("<html>{% for f in findings %}{{ f }}{% endfor %}{{ no_such_value }}")
    info = RunInfo("run-broken", T0, T0, RunMode.AUDIT, False, "digest", "test")
    with pytest.raises(jinja2.UndefinedError):
        write_reports(
            RunResult(info, ()), tmp_path / "reports", formats=("csv", "html", "json"), template_dir=templates
        )
    assert [p for p in (tmp_path / "reports").rglob("*") if p.is_file()] == []  # staged files removed, none renamed
