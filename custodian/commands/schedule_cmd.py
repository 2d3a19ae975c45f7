"""`release-custodian schedule`: the scheduled service, the very code path of `python scheduler.py`.

APScheduler is imported only by the composition root `scheduler.py` (installed beside the
`custodian` package as the `scheduler` module); this command imports it lazily and hands over.
"""

from __future__ import annotations

import argparse
import importlib

from rich.console import Console

from custodian.commands.common import config_parent
from custodian.errors import BadInputError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "schedule",
        parents=[config_parent()],
        help="run the scheduled service: audit, accounts, reap and digest jobs on their cadence",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Runs the jobs of the configuration's `schedule` section until SIGTERM/SIGINT (exit 0), the same\n"
            "as `python scheduler.py`. With a PostgreSQL ledger several replicas may run: one leads (lease),\n"
            "the others stand by. `service.health.port` turns on /healthz and /metrics.\n\n"
            "examples:\n"
            "  release-custodian schedule -c release-custodian.yaml --show   # jobs and their next slots\n"
            "  release-custodian schedule -c release-custodian.yaml --log-format json"
        ),
    )
    parser.add_argument("--show", action="store_true", help="print the jobs and their next slots, then exit")
    parser.set_defaults(handler=cmd_schedule)


def cmd_schedule(args: argparse.Namespace, console: Console) -> int:
    try:
        scheduler = importlib.import_module("scheduler")
    except ModuleNotFoundError as exc:
        raise BadInputError(
            "the scheduler module is not installed with this copy of release-custodian "
            "(run it from the source tree: python scheduler.py)"
        ) from exc
    status: int = scheduler.serve(args.config, log_format=args.log_format, show_only=args.show)
    return status
