"""`release-custodian hold add|list|show|release`: manual intervention, audited and expiring.

`hold add` looks its target up first (custodian/commands/hold_targets.py): a version or an account
nobody knows is refused with the nearest known names; `list` and `show` say who placed and who
released what, when and why (the ledger's journal of each hold).
"""

from __future__ import annotations

import argparse
import difflib
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from custodian.commands.common import config_parent, load, open_ledger, progress_reporter, utcnow, when
from custodian.commands.hold_targets import UncheckedError, known_accounts, known_versions, resolve
from custodian.config import Config
from custodian.errors import BadInputError, ExitCode
from custodian.ledger.holds import check_hold
from custodian.ledger.store import Ledger, LedgerInputError
from custodian.model import Hold, HoldTarget

ADD_DESCRIPTION = """\
Place a hold on every account of a version (--version) or on one account (--account). The target is
looked up first, read-only: a version in the release repositories (a tag, a release or a deployment),
an account among the GitHub machine accounts and ACR tokens (its logical name v0.0.1-uat-gh-sa or its
provider name v0-0-1-uat-gh-sa). A name nobody knows is refused (exit 2) with the nearest known names.

  --future     the version is not tagged yet: it is not looked up, it must only match
               naming.version_pattern; the hold protects the version's accounts once they appear
  --no-check   GitHub or Azure cannot be reached: place the hold without the lookup (an outage must
               not keep a manager from holding); the name must still be well-formed

When a provider cannot be reached, nothing is placed: the command names what could not be read and
exits 1; re-run with --no-check if you are sure of the name.

examples:
  release-custodian hold add --version v0.0.1 --reason "CAB-123 rollback window" --by alice
  release-custodian hold add --account v0.0.1-prod-acr-sa --reason "incident 42" --by bob --until now+2d
  release-custodian hold add --version v0.1.0 --future --reason "keep the next release" --by alice
  release-custodian hold add --version v0.0.1 --no-check --reason "GitHub is down" --by alice"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parent = config_parent()
    raw = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        "hold",
        help="place, list and release holds (a hold keeps a version's or an account's objects untouched)",
        formatter_class=raw,
        description="A hold protects every account of a version (--version) or one account (--account) from\n"
        "deletion until it expires or is released (revocation happens under a hold too). Holds expire\n"
        "(holds.max_duration, default 14d); any qualified backup can place or release one; every change is\n"
        "journaled with who, when and why.\n\n"
        "examples:\n"
        '  release-custodian hold add --version v0.0.1 --reason "CAB-123" --by alice --until now+3d\n'
        "  release-custodian hold list --all\n"
        "  release-custodian hold show H-1a2b3c4d\n"
        '  release-custodian hold release H-1a2b3c4d --by bob --reason "signed off"',
    )
    commands = parser.add_subparsers(dest="hold_command", required=True, metavar="COMMAND")

    add = commands.add_parser(
        "add", parents=[parent], help="place a hold", formatter_class=raw, description=ADD_DESCRIPTION
    )
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--version", help="hold every account of this release version (e.g. v0.0.1)")
    target.add_argument("--account", help="hold one account (logical name v0.0.1-uat-gh-sa or provider name)")
    add.add_argument("--reason", required=True, help="why (shown in every report)")
    add.add_argument("--by", required=True, help="who places the hold")
    add.add_argument("--until", help="expiry: ISO 8601 or now+3d (default and maximum: holds.max_duration)")
    add.add_argument("--future", action="store_true", help="the version is not tagged yet: do not look it up")
    add.add_argument("--no-check", action="store_true", help="do not look the target up (providers unreachable)")
    add.set_defaults(handler=cmd_add)

    listing = commands.add_parser(
        "list",
        parents=[parent],
        help="list holds: who placed and who released each, when and why",
        formatter_class=raw,
        description="The holds in force now; with --all also the released and expired ones.\n\n"
        "examples:\n"
        "  release-custodian hold list\n"
        "  release-custodian hold list --all -c release-custodian.yaml",
    )
    listing.add_argument("--all", action="store_true", help="include released and expired holds")
    listing.set_defaults(handler=cmd_list)

    show = commands.add_parser(
        "show",
        parents=[parent],
        help="one hold and its journal: placed and released by whom, when and why",
        formatter_class=raw,
        description="examples:\n  release-custodian hold show H-1a2b3c4d",
    )
    show.add_argument("hold_id", metavar="ID", help="the hold id shown by `hold add` and `hold list`")
    show.set_defaults(handler=cmd_show)

    release = commands.add_parser(
        "release",
        parents=[parent],
        help="release (lift) a hold",
        formatter_class=raw,
        description="The hold stops protecting its target at once; the release is journaled.\n\n"
        "examples:\n"
        '  release-custodian hold release H-1a2b3c4d --by bob --reason "CAB-123 signed off"',
    )
    release.add_argument("hold_id", metavar="ID", help="the hold id shown by `hold list`")
    release.add_argument("--by", required=True, help="who releases it")
    release.add_argument("--reason", required=True, help="why")
    release.set_defaults(handler=cmd_release)


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}Z"


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
        if args.future:
            raise BadInputError("--future is for a version not tagged yet; for an account use --no-check")
        target_type, target = HoldTarget.ACCOUNT, args.account.strip()
        if not target or not namer.looks_like_service_account(target):
            raise BadInputError(f"--account: '{args.account}' does not look like a service account name")
    until = when(args.until, "--until", now) or now + config.holds.max_duration
    try:  # what a person typed is checked before the (slower) lookup
        check_hold(target_type, target, args.reason, args.by, now, until, config.holds.max_duration)
    except LedgerInputError as exc:
        raise BadInputError(str(exc)) from exc
    if args.no_check or args.future:
        note = f"not looked up: {'--future' if args.future else '--no-check'}"
    else:
        try:
            stored = _look_up(args, config, console, target_type, target, now)
        except UncheckedError as exc:
            Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            return ExitCode.INCOMPLETE
        note = "looked up: found" if stored == target else f"looked up: found as {stored}"
        target = stored
    with open_ledger(config) as ledger:
        try:
            hold = ledger.place_hold(target_type, target, args.reason, args.by, now, until, config.holds.max_duration)
        except LedgerInputError as exc:
            raise BadInputError(str(exc)) from exc
    console.print(
        f"hold [bold]{hold.hold_id}[/bold] placed on {target_type.value} {escape(target)} by {escape(hold.placed_by)} "
        f"until {_at(hold.until)}: {escape(hold.reason)}  [dim]({escape(note)})[/dim]",
        highlight=False,
    )
    return ExitCode.OK


def _look_up(
    args: argparse.Namespace, config: Config, console: Console, target_type: HoldTarget, target: str, now: datetime
) -> str:
    with progress_reporter(console, args.log_format) as progress:
        if target_type is HoldTarget.VERSION:
            hint = "For a version that is not tagged yet, add --future."
            return resolve("--version", target, known_versions(config, now, progress), hint=hint)
        return resolve("--account", target, known_accounts(config, now, progress))


def _state(hold: Hold, now: datetime) -> str:
    if hold.released_at is not None:
        return f"released {_at(hold.released_at)} by {hold.released_by}: {hold.release_reason}"
    return "active" if hold.active_at(now) else f"expired {_at(hold.until)}"


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    now = utcnow()
    with open_ledger(config) as ledger:
        holds = ledger.list_holds(include_inactive=args.all, now=now)
    table = Table(show_header=True, header_style="bold")
    for column in ("id", "target", "placed", "reason", "until", "state"):
        table.add_column(column, overflow="fold")
    for hold in holds:
        table.add_row(
            hold.hold_id,
            f"{hold.target_type.value} {escape(hold.target)}",
            f"{_at(hold.placed_at)} by {escape(hold.placed_by)}",
            escape(hold.reason),
            _at(hold.until),
            escape(_state(hold, now)),
        )
    console.print(table if holds else "no holds" + ("" if args.all else " (use --all to include released and expired)"))
    return ExitCode.OK


def _unknown_hold(ledger: Ledger, hold_id: str, now: datetime) -> BadInputError:
    ids = [h.hold_id for h in ledger.list_holds(include_inactive=True, now=now)]
    close = difflib.get_close_matches(hold_id, ids, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else "; `hold list --all` shows every hold"
    return BadInputError(f"no hold {hold_id!r} in the ledger{hint}")


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    now = utcnow()
    with open_ledger(config) as ledger:
        hold = ledger.get_hold(args.hold_id)
        if hold is None:
            raise _unknown_hold(ledger, args.hold_id, now)
        events = ledger.hold_events(hold.hold_id)
    console.print(
        f"hold [bold]{hold.hold_id}[/bold] on {hold.target_type.value} {escape(hold.target)} "
        f"(until {_at(hold.until)}): {escape(_state(hold, now))}",
        highlight=False,
    )
    table = Table(show_header=True, header_style="bold", title="journal")
    for column in ("when", "event", "by", "reason"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(_at(event.at), event.event.value, escape(event.by), escape(event.reason))
    console.print(table)
    return ExitCode.OK


def cmd_release(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    now = utcnow()
    with open_ledger(config) as ledger:
        if ledger.get_hold(args.hold_id) is None:
            raise _unknown_hold(ledger, args.hold_id, now)
        try:
            hold = ledger.release_hold(args.hold_id, args.by, args.reason, now)
        except LedgerInputError as exc:
            raise BadInputError(str(exc)) from exc
    console.print(
        f"hold [bold]{hold.hold_id}[/bold] on {escape(hold.target)} released by {escape(hold.released_by or '')}",
        highlight=False,
    )
    return ExitCode.OK
