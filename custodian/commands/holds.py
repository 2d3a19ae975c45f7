"""`release-custodian hold add|list|release`: manual intervention, audited and expiring."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from custodian.commands.common import config_parent, load, open_ledger, utcnow, when
from custodian.errors import BadInputError, ExitCode
from custodian.ledger.store import LedgerInputError
from custodian.model import HoldTarget


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parent = config_parent()
    parser = subparsers.add_parser(
        "hold",
        help="place, list and release holds (a hold keeps a version's or an account's objects untouched)",
        description="A hold protects every account of a version (--version) or one account (--account) from "
        "enforcement until it expires or is released. Holds expire (holds.max_duration, default 14d); any "
        "qualified backup can place or release one; every change is journaled with who and why.",
    )
    commands = parser.add_subparsers(dest="hold_command", required=True, metavar="COMMAND")

    add = commands.add_parser(
        "add",
        parents=[parent],
        help="place a hold",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="examples:\n"
        '  release-custodian hold add --version v0.0.1 --reason "CAB-123 rollback window" --by alice\n'
        '  release-custodian hold add --account v0.0.1-prod-acr-sa --reason "incident 42" --by bob --until now+2d',
    )
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--version", help="hold every account of this release version (e.g. v0.0.1)")
    target.add_argument("--account", help="hold one account (logical name v0.0.1-uat-gh-sa or provider name)")
    add.add_argument("--reason", required=True, help="why (shown in every report)")
    add.add_argument("--by", required=True, help="who places the hold")
    add.add_argument("--until", help="expiry: ISO 8601 or now+3d (default and maximum: holds.max_duration)")
    add.set_defaults(handler=cmd_add)

    listing = commands.add_parser("list", parents=[parent], help="list holds")
    listing.add_argument("--all", action="store_true", help="include released and expired holds")
    listing.set_defaults(handler=cmd_list)

    release = commands.add_parser("release", parents=[parent], help="release (lift) a hold")
    release.add_argument("hold_id", metavar="ID", help="the hold id shown by `hold list`")
    release.add_argument("--by", required=True, help="who releases it")
    release.add_argument("--reason", required=True, help="why")
    release.set_defaults(handler=cmd_release)


def cmd_add(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    now = utcnow()
    namer = config.namer()
    if args.version is not None:
        if not namer.is_version(args.version):
            raise BadInputError(
                f"--version: '{args.version}' is not a release version (naming.version_pattern "
                f"{config.naming.version_pattern!r}, e.g. v0.0.1)"
            )
        target_type, target = HoldTarget.VERSION, args.version
    else:
        target_type, target = HoldTarget.ACCOUNT, args.account.strip()
        if not target or not namer.looks_like_service_account(target):
            raise BadInputError(f"--account: '{args.account}' does not look like a service account name")
    until = when(args.until, "--until", now) or now + config.holds.max_duration
    with open_ledger(config) as ledger:
        try:
            hold = ledger.place_hold(target_type, target, args.reason, args.by, now, until, config.holds.max_duration)
        except LedgerInputError as exc:
            raise BadInputError(str(exc)) from exc
    console.print(
        f"hold [bold]{hold.hold_id}[/bold] placed on {target_type.value} {target} by {hold.placed_by} "
        f"until {hold.until:%Y-%m-%d %H:%M}Z: {hold.reason}",
        highlight=False,
    )
    return ExitCode.OK


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    now = utcnow()
    with open_ledger(config) as ledger:
        holds = ledger.list_holds(include_inactive=args.all, now=now)
    table = Table(show_header=True, header_style="bold")
    for column in ("id", "target", "by", "reason", "placed", "until", "state"):
        table.add_column(column, overflow="fold")
    for hold in holds:
        if hold.released_at is not None:
            state = f"released {hold.released_at:%Y-%m-%d %H:%M}Z by {hold.released_by}"
        elif hold.active_at(now):
            state = "active"
        else:
            state = "expired"
        table.add_row(
            hold.hold_id,
            f"{hold.target_type.value} {hold.target}",
            hold.placed_by,
            hold.reason,
            f"{hold.placed_at:%Y-%m-%d %H:%M}Z",
            f"{hold.until:%Y-%m-%d %H:%M}Z",
            state,
        )
    console.print(table if holds else "no holds" + ("" if args.all else " (use --all to include released and expired)"))
    return ExitCode.OK


def cmd_release(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    with open_ledger(config) as ledger:
        try:
            hold = ledger.release_hold(args.hold_id, args.by, args.reason, utcnow())
        except LedgerInputError as exc:
            raise BadInputError(str(exc)) from exc
    console.print(f"hold [bold]{hold.hold_id}[/bold] on {hold.target} released by {hold.released_by}", highlight=False)
    return ExitCode.OK
