"""Options and helpers shared by the commands that read the configuration and the ledger."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn
from rich.table import Table

from custodian.config import Config, ConfigError, load_config
from custodian.errors import BadInputError
from custodian.ledger.store import Ledger
from custodian.logs import configure, is_interactive
from custodian.model import Finding, Status
from custodian.progress import LogProgress
from custodian.progress import Progress as ProgressSink
from custodian.timeparse import parse_when

DEFAULT_CONFIG = Path("release-custodian.yaml")


def config_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config",
        "-c",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"configuration file (default: {DEFAULT_CONFIG}; see `release-custodian config schema`)",
    )
    parent.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text: progress on a terminal, plain lines otherwise; json: one JSON object per line on stderr",
    )
    return parent


def load(args: argparse.Namespace) -> Config:
    try:
        return load_config(args.config)
    except ConfigError as exc:
        raise BadInputError(f"{args.config}: invalid configuration:\n" + "\n".join(exc.problems)) from exc


def utcnow() -> datetime:
    return datetime.now(UTC)


def when(text: str | None, option: str, now: datetime) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_when(text, now)
    except ValueError as exc:
        raise BadInputError(f"{option}: {exc}") from exc


@contextmanager
def open_ledger(config: Config) -> Iterator[Ledger]:
    ledger = Ledger.open(config.ledger.url)
    try:
        yield ledger
    finally:
        ledger.close()


class RichProgress:
    """A progress bar per phase on a terminal (rich)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def begin(self, description: str, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=False)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, message: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=1, description=message)

    def note(self, message: str) -> None:
        self._progress.console.log(message)


@contextmanager
def progress_reporter(console: Console, log_format: str) -> Iterator[ProgressSink]:
    """A rich progress bar on a terminal; structured log lines otherwise (JSON with --log-format json)."""
    logger = configure(log_format)
    if is_interactive(log_format):
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            yield RichProgress(bar)
    else:
        yield LogProgress(logger)


STATUS_STYLE = {
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.WARN: "yellow",
    Status.HELD: "cyan",
    Status.PASS: "green",
}


def where(scope: str | None) -> str:
    """A short name for a scope: the org of `github:acme`, the registry of an ARM id."""
    if not scope:
        return ""
    if scope.startswith("github:"):
        return scope.removeprefix("github:")
    return scope.rstrip("/").rsplit("/", 1)[-1]


def findings_table(findings: list[Finding], *, show_pass: bool = False, limit: int = 40) -> Table:
    table = Table(show_header=True, header_style="bold")
    for column in ("status", "rule", "subject", "where", "message"):
        table.add_column(column, overflow="fold")
    shown = [f for f in findings if show_pass or f.status is not Status.PASS]
    order = [Status.FAIL, Status.ERROR, Status.WARN, Status.HELD, Status.PASS]
    shown.sort(key=lambda f: (order.index(f.status), f.rule, f.subject.provider_name))
    for finding in shown[:limit]:
        subject = finding.subject.logical_name or finding.subject.provider_name
        style = STATUS_STYLE[finding.status]
        table.add_row(
            f"[{style}]{finding.status.value}[/]", finding.rule, subject, where(finding.subject.scope), finding.message
        )
    if len(shown) > limit:
        table.caption = f"... and {len(shown) - limit} more (see the report)"
    return table
