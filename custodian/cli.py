"""The `release-custodian` command line: argument parsing, exit codes and error presentation.

Every command module registers its sub-parser; handlers return an `ExitCode` and raise
`BadInputError` for bad input. Only this module turns outcomes into a process exit status.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import sys
from collections.abc import Sequence
from typing import cast

from rich.console import Console
from rich.markup import escape

from custodian import __version__
from custodian.commands import (
    config_cmd,
    demo,
    holds,
    release_cmd,
    report_cmd,
    rules_cmd,
    runs,
    sandbox,
    schedule_cmd,
)
from custodian.config import ConfigError
from custodian.errors import BadInputError, ExitCode
from custodian.ledger.locks import LockHeldError
from custodian.ledger.store import LedgerInputError

EPILOG = """\
exit codes:
  0  no failing findings        3  failing findings
  2  bad input (config, policy, arguments, scenario); nothing was changed
  1  incomplete run or internal error
  141  stdout was closed early (e.g. `| head`): quietly, as for a process killed by SIGPIPE; work
       already done stands (an audit's reports are written before its summary is printed)

examples (start here):
  release-custodian demo                   the whole story on the built-in sandbox, nothing to configure
  release-custodian sandbox serve          local GitHub/ARM/Azurite emulators with the seed scenario
  release-custodian config validate FILE   check a configuration file
  release-custodian rules list             every rule: what it checks, whether and how it acts
  release-custodian audit -c FILE          read-only audit; reports in reports/<date>/<run-id>/
  release-custodian schedule -c FILE       the scheduled service (jobs, leader lease, /healthz, /metrics)
"""


class _StdoutConsole(Console):
    """rich ends a process with exit 1 when stdout is closed; here `main` ends it quietly with 141."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "stdout was closed")


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on bad arguments already; keep that, but print our hint too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(ExitCode.BAD_INPUT, f"{self.prog}: error: {message}\n(see `{self.prog} --help`)\n")


class _SubParser(_Parser):
    """A sub-command's parser: it reports arguments it does not know itself, with its own usage line.

    (argparse hands a sub-command's unknown arguments up to the top-level parser, whose usage names
    none of the sub-command's options.)
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="release-custodian",
        description="Custodian and compliance auditor for a staged release pipeline on GitHub and Azure.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"release-custodian {__version__}")
    subparsers = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_SubParser),
    )
    demo.register(subparsers)
    runs.register(subparsers)
    holds.register(subparsers)
    release_cmd.register(subparsers)
    report_cmd.register(subparsers)
    config_cmd.register(subparsers)
    rules_cmd.register(subparsers)
    sandbox.register(subparsers)
    schedule_cmd.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a stdout closed by its reader (`| head`) ends it quietly with 141."""
    try:
        try:
            status = _main(argv)
        finally:  # also when argparse exits (--help, a usage error): what it printed is flushed here
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.STDOUT_CLOSED
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):  # no file descriptor (stdout replaced in-process)
        pass


def _output_width() -> int | None:
    """The terminal's width on a terminal (rich's own); 120 columns into a file or a pipe, not rich's 80.

    Long lines (paths, lists) are never broken in the middle (`soft_wrap`): a path stays one line to copy.
    """
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return 120


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = _StdoutConsole(stderr=False, soft_wrap=True, width=_output_width())
    err = Console(stderr=True, soft_wrap=True)
    try:
        return int(args.handler(args, console))
    except (BadInputError, ConfigError, LedgerInputError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return ExitCode.BAD_INPUT
    except LockHeldError as exc:
        err.print(f"[red]refused:[/red] {escape(str(exc))}; nothing was changed (rerun with --wait to wait for it)")
        return ExitCode.INCOMPLETE
    except KeyboardInterrupt:
        err.print("interrupted")
        return ExitCode.INCOMPLETE
    except BrokenPipeError:  # stdout closed by its reader: not an internal error (see main)
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: say what happened, exit 1
        err.print(f"[red]internal error:[/red] {escape(type(exc).__name__)}: {escape(str(exc))}", highlight=False)
        err.print("(run with RELEASE_CUSTODIAN_DEBUG=1 for the traceback)" if not _debug() else "")
        if _debug():
            err.print_exception()
        return ExitCode.INCOMPLETE


def _debug() -> bool:
    return os.environ.get("RELEASE_CUSTODIAN_DEBUG", "") not in ("", "0")


if __name__ == "__main__":
    raise SystemExit(main())
