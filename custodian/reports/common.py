"""Shared pieces of the report writers: ordering, labels, timestamps and atomic file writes.

Every format renders the same `RunResult` in the same order, so the orderings live here:
findings by status (FAIL, ERROR, WARN, HELD, FIXED, PASS), then rule, then subject; actions in journal
order (stable by time); holds by placement time. Timestamps are rendered in UTC with a `Z`
suffix; a naive `datetime` is taken to be UTC already.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from custodian.model import ActionRecord, Cost, Finding, Hold, RunInfo, RunResult, Status, Subject
from custodian.private_files import make_private_dirs, open_private

STATUS_ORDER: tuple[Status, ...] = (Status.FAIL, Status.ERROR, Status.WARN, Status.HELD, Status.FIXED, Status.PASS)
"""Worst first: the order of findings in every report and of the `counts` object."""

_STATUS_RANK: dict[Status, int] = {status: rank for rank, status in enumerate(STATUS_ORDER)}

FAILING: frozenset[Status] = frozenset({Status.FAIL, Status.ERROR})
"""Statuses that make a run fail (the markdown "failing findings" table, JUnit failures/errors)."""

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def status_rank(status: Status) -> int:
    """0 for the worst status (FAIL), 5 for PASS."""
    return _STATUS_RANK[status]


def worst_status(statuses: Iterable[Status]) -> Status | None:
    """The worst of `statuses` (FAIL > ERROR > WARN > HELD > FIXED > PASS), or None when there are none."""
    ranked = sorted(statuses, key=status_rank)
    return ranked[0] if ranked else None


def verdict(result: RunResult) -> Status:
    """The run's verdict: the worst status among its findings; PASS when it has none."""
    return worst_status(f.status for f in result.findings) or Status.PASS


def ordered_counts(result: RunResult) -> dict[str, int]:
    """Findings per status, every status present, worst first."""
    counts = result.counts()
    return {status.value: counts.get(status.value, 0) for status in STATUS_ORDER}


def subject_key(subject: Subject) -> tuple[str, ...]:
    return (
        subject.provider,
        subject.kind,
        subject.provider_name,
        subject.logical_name or "",
        subject.version or "",
        subject.stage or "",
        subject.resource_id or "",
        subject.scope or "",
    )


def finding_sort_key(finding: Finding) -> tuple[int, str, tuple[str, ...], str]:
    return (status_rank(finding.status), finding.rule, subject_key(finding.subject), finding.message)


def sorted_findings(result: RunResult) -> list[Finding]:
    """Findings in report order: status (worst first), rule, subject, message."""
    return sorted(result.findings, key=finding_sort_key)


def sorted_actions(result: RunResult) -> list[ActionRecord]:
    """Actions in journal order: by time, ties kept in the order given."""
    return sorted(result.actions, key=lambda record: utc(record.at))


def sorted_holds(result: RunResult) -> list[Hold]:
    return sorted(result.holds, key=lambda hold: (utc(hold.placed_at), hold.hold_id))


@dataclass(frozen=True)
class TagHold:
    """An object kept by the hold tag on it (`reaper.hold_tag`), as the engine found it: not a ledger hold."""

    tag: str  # `key=value` as written on the object
    subject: Subject
    rules: tuple[str, ...]  # the rules that would have marked or deleted it
    cost: Cost | None  # its highest estimate per month, when priced


def tag_holds(result: RunResult) -> list[TagHold]:
    """Every object a hold tag protects (HELD findings whose evidence names the `hold` tag), one per
    object, in report order."""
    grouped: dict[tuple[str, ...], list[Finding]] = {}
    for finding in sorted_findings(result):
        if finding.status is Status.HELD and finding.evidence.get("hold"):
            grouped.setdefault(subject_key(finding.subject), []).append(finding)
    out = []
    for findings in grouped.values():
        costs = [f.cost for f in findings if f.cost is not None]
        out.append(
            TagHold(
                tag=str(findings[0].evidence["hold"]),
                subject=findings[0].subject,
                rules=tuple(dict.fromkeys(f.rule for f in findings)),
                cost=max(costs, key=lambda c: c.monthly) if costs else None,
            )
        )
    return out


def reference_time(run: RunInfo) -> datetime:
    """The instant holds are judged at: the forecast time (`as_of`) if set, else the run start."""
    return utc(run.as_of or run.started_at)


def hold_active(hold: Hold, run: RunInfo) -> bool:
    at = reference_time(run)
    return hold.released_at is None and utc(hold.placed_at) <= at < utc(hold.until)


def hold_state(hold: Hold, run: RunInfo) -> str:
    """`active`, `released`, `expired` or `pending` (placed after the reference time)."""
    if hold.released_at is not None:
        return "released"
    if hold_active(hold, run):
        return "active"
    return "pending" if utc(hold.placed_at) > reference_time(run) else "expired"


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix; fractional seconds only when there are some."""
    at = utc(moment)
    text = at.isoformat(timespec="microseconds" if at.microsecond else "seconds")
    return text.removesuffix("+00:00") + "Z"


def iso_utc_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


def human_utc(moment: datetime | None) -> str:
    """A short form for people: `2024-05-01 12:00 UTC` (seconds shown when not zero, no fractions)."""
    if moment is None:
        return "—"
    at = utc(moment)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC" if at.second else "%Y-%m-%d %H:%M UTC")


def trigger_text(run: RunInfo) -> str:
    """What started the run, for people: a GitHub event's hand-off, a scheduled job, or a person."""
    kind = run.trigger_kind
    detail = (run.trigger or "").partition(":")[2]
    version = f" of {run.version}" if run.version else ""
    if kind == "event":
        return f"GitHub event (delivery {detail}): hand-off{version}"
    if kind == "schedule":
        return f"schedule (job {detail})"
    return "manual" + (f" ({run.trigger})" if run.trigger else "")


def subject_label(subject: Subject) -> str:
    """`github/gh v0-0-1-qa-gh-sa`, plus the logical name when it differs from the provider name."""
    label = f"{subject.provider}/{subject.kind} {subject.provider_name}"
    if subject.logical_name and subject.logical_name != subject.provider_name:
        label += f" ({subject.logical_name})"
    return label


def run_directory(reports_dir: Path, run: RunInfo) -> Path:
    """`reports_dir/<YYYY-MM-DD of started_at in UTC>/<run-id>`; refuses run ids that are not a plain name."""
    if not _RUN_ID.fullmatch(run.run_id) or run.run_id in {".", ".."}:
        raise ValueError(f"run id {run.run_id!r} is not usable as a directory name")
    return reports_dir / utc(run.started_at).strftime("%Y-%m-%d") / run.run_id


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically: temp file in the same directory, fsync, `os.replace`.

    Readers see the old file or the new one, never a partial one. The file is owner-only (0600,
    new directories 0700) whatever the umask (`custodian.private_files`).
    """
    make_private_dirs(path.parent)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = open_private(temp, os.O_WRONLY | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def stage_chunks(path: Path, chunks: Iterable[str | bytes]) -> Path:
    """Stream `chunks` (text as UTF-8) to a new owner-only temp file beside `path`, fsynced; returns it.

    `commit_staged` renames it into place; on any error the temp file is removed and the error raised.
    """
    make_private_dirs(path.parent)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = open_private(temp, os.O_WRONLY | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 16) as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def commit_staged(temp: Path, path: Path) -> None:
    """Rename a `stage_chunks` temp file onto `path` atomically (readers see the old file or the new one)."""
    os.replace(temp, path)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; not every platform can open a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def uninventoried(result: RunResult) -> int:
    """How many units (scopes, registries, storage accounts, the timeline) this run could not inventory."""
    return sum(1 for f in result.findings if f.rule == "COLLECT" and f.status is Status.ERROR)


def incomplete_note(result: RunResult) -> str:
    """What cost totals say when the inventory is partial ("" when it is complete)."""
    count = uninventoried(result)
    return f"incomplete: {count} scope{'s' if count != 1 else ''} not inventoried" if count else ""
