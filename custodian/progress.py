"""Progress of long work, reported through a small protocol the sweeps call and the CLI renders.

Sweeps say `begin(description, total)` then `advance(message)` per unit, and `note(message)` for
anything else; the CLI shows a rich progress bar on a terminal and structured log lines otherwise.
"""

from __future__ import annotations

import logging
from typing import Protocol


class Progress(Protocol):
    def begin(self, description: str, total: int) -> None: ...

    def advance(self, message: str) -> None: ...

    def note(self, message: str) -> None: ...


class NullProgress:
    def begin(self, description: str, total: int) -> None:
        return None

    def advance(self, message: str) -> None:
        return None

    def note(self, message: str) -> None:
        return None


class LogProgress:
    """One log line per step, with the phase and the count as structured fields."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._phase = ""
        self._done = 0
        self._total = 0

    def begin(self, description: str, total: int) -> None:
        self._phase, self._done, self._total = description, 0, total
        self._logger.info(f"{description}: {total} step(s)", extra={"fields": {"phase": description, "total": total}})

    def advance(self, message: str) -> None:
        self._done += 1
        fields = {"phase": self._phase, "done": self._done, "total": self._total}
        self._logger.info(f"[{self._done}/{self._total}] {message}", extra={"fields": fields})

    def note(self, message: str) -> None:
        self._logger.info(message)
