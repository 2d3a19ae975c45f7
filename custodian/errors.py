"""Exit codes and the error type for bad user input, shared by every command."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (documented in the README and `--help`)."""

    OK = 0
    INCOMPLETE = 1  # incomplete run or internal error
    BAD_INPUT = 2  # bad config, policy, CLI arguments, scenario or version string
    FAILING_FINDINGS = 3
    STDOUT_CLOSED = 141  # stdout closed before the output was written (`| head`): 128 + SIGPIPE, as shells report


class BadInputError(Exception):
    """User input is invalid; the message names the problem. Nothing was changed."""


def describe_error(exc: BaseException) -> str:
    """`Type: first line of the message` (at most 300 characters of it), for findings and the journal."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
