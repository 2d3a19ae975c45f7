"""`release-custodian release status V`: a version's timeline and the state of each of its accounts."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from custodian.collect.accounts import collect_inventory
from custodian.commands.common import config_parent, findings_table, load, open_ledger, progress_reporter, utcnow
from custodian.errors import BadInputError, ExitCode
from custodian.providers.wire import CallCounter
from custodian.rules.naming import ParsedAccount
from custodian.run import Providers, RunTuning, account_findings, report_holds, sources_of


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "release",
        help="look at one release version",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="examples:\n  release-custodian release status v0.0.1 -c release-custodian.yaml",
    )
    commands = parser.add_subparsers(dest="release_command", required=True, metavar="COMMAND")
    status = commands.add_parser(
        "status",
        parents=[config_parent()],
        help="the timeline of a version and the state of each of its accounts (read-only)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "When each stage of the version started (and from which evidence), its production deployments,\n"
            "each of its accounts with its credentials, and the findings on them. Read-only on the wire.\n\n"
            "examples:\n"
            "  release-custodian release status v0.0.1\n"
            "  release-custodian release status v0.0.2 -c release-custodian.yaml --log-format json"
        ),
    )
    status.add_argument("version", help="a release version, e.g. v0.0.1")
    status.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    config = load(args)
    namer = config.namer()
    if not namer.is_version(args.version):
        raise BadInputError(f"'{args.version}' is not a release version (e.g. v0.0.1)")
    now = utcnow()
    providers = Providers(config, read_only=True, counter=CallCounter(), tuning=RunTuning())
    try:
        with progress_reporter(console, args.log_format) as progress:
            inventory = collect_inventory(sources_of(config, providers), namer, now, progress)
    finally:
        providers.close()
    with open_ledger(config) as ledger:
        holds = report_holds(ledger, now)
    timeline = inventory.timeline
    if args.version not in timeline.versions():
        raise BadInputError(f"{args.version}: no tag, release or deployment of this version was found")

    table = Table(title=f"{args.version} timeline", show_header=True, header_style="bold")
    for column in ("stage", "started", "evidence"):
        table.add_column(column)
    for stage in config.stages:
        start = timeline.stage_started(args.version, stage)
        table.add_row(stage, f"{start.at:%Y-%m-%d %H:%M}Z" if start else "-", start.source if start else "not started")
    console.print(table)
    for deployment in (d for d in timeline.deployments if d.version == args.version):
        states = ", ".join(f"{state} {at:%Y-%m-%d %H:%M}Z" for state, at in deployment.statuses) or "no status"
        console.print(f"deployment {deployment.deployment_id} ({deployment.environment}): {states}", highlight=False)

    known = timeline.versions()
    accounts = Table(title=f"{args.version} accounts", show_header=True, header_style="bold")
    for column in ("account", "provider", "where", "enabled", "credentials"):
        accounts.add_column(column, overflow="fold")
    for account in inventory.accounts:
        parsed = namer.parse_account(account.provider_name, known, account.display_name)
        if isinstance(parsed, ParsedAccount) and parsed.version == args.version:
            creds = ", ".join(f"{c.kind.value}:{c.name}" for c in account.credentials) or "none"
            accounts.add_row(
                parsed.logical_name,
                account.provider.value,
                account.location or account.unit,
                str(account.enabled),
                creds,
            )
    console.print(accounts)
    findings = [f for f in account_findings(config, inventory, holds, now) if f.subject.version == args.version]
    console.print(findings_table(findings, show_pass=True))
    return ExitCode.OK
