"""Options and helpers shared by the commands that read the configuration and the ledger."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn

from custodian.commands.terminal import STATUS_STYLE, findings_table, where
from custodian.config import Config, ConfigError, load_config
from custodian.errors import BadInputError
from custodian.ledger.store import Ledger
from custodian.logs import configure, is_interactive
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


__all__ = [
    "DEFAULT_CONFIG",
    "STATUS_STYLE",
    "config_parent",
    "findings_table",
    "load",
    "open_ledger",
    "progress_reporter",
    "utcnow",
    "when",
    "where",
]
