"""`release-custodian rules list`: every rule the custodian knows, from the one registry."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from custodian.errors import ExitCode
from custodian.rules.registry import RULES, markdown_table


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="the rules: what each checks, whether and how it acts",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="examples:\n  release-custodian rules list\n  release-custodian rules list --format json",
    )
    commands = parser.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    listing = commands.add_parser(
        "list",
        help="list every rule (id, severity, what it checks, whether it acts, where it is implemented)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Every rule, as declared once in custodian/rules/registry.py (the README's rules table is\n"
            "generated from it). Holds stop rules that delete, never rules that revoke.\n\n"
            "examples:\n"
            "  release-custodian rules list\n"
            "  release-custodian rules list --format markdown   # the README's table\n"
            "  release-custodian rules list --format json | jq '.[] | select(.acts)'"
        ),
    )
    listing.add_argument("--format", choices=("table", "markdown", "json"), default="table", help="output format")
    listing.set_defaults(handler=cmd_list)


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    if args.format == "markdown":
        print(markdown_table())
        return ExitCode.OK
    if args.format == "json":
        rows = [
            {
                "id": r.id,
                "title": r.title,
                "checks": r.checks,
                "status_when_violated": r.violated.value,
                "severity": r.severity.value,
                "purpose": r.purpose.value,
                "acts": r.acts,
                "implementation": r.implementation.value,
                "where": r.where,
                "remediation": r.remediation,
            }
            for r in RULES
        ]
        print(json.dumps(rows, indent=2))
        return ExitCode.OK
    table = Table(show_header=True, header_style="bold", title="rules (custodian/rules/registry.py)", expand=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("checks", overflow="fold", ratio=5)
    table.add_column("when violated", no_wrap=True)
    table.add_column("acts", overflow="fold", ratio=2)
    table.add_column("in", overflow="fold", ratio=2)
    for r in RULES:
        acts = {"revoke": "revokes; holds never stop it", "delete": "deletes; a hold stops it"}.get(
            r.purpose.value, "-"
        )
        where = f"{r.implementation.value}: {r.where.rsplit('/', 1)[-1]}"
        table.add_row(
            r.id, f"[bold]{r.title}[/bold]: {r.checks}", f"{r.violated.value} {r.severity.value}", acts, where
        )
    console.print(table)
    return ExitCode.OK
