"""`release-custodian config validate|schema`: check a configuration file, print the JSON Schema."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from custodian.commands.connections import check_connections
from custodian.config import ConfigError, config_schema, load_config
from custodian.config.advice import config_warnings
from custodian.errors import BadInputError, ExitCode


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        "config",
        help="validate a configuration file or print its JSON Schema",
        formatter_class=raw,
        description="The configuration is one YAML file; unknown keys are errors. ${VAR} in a value is replaced\n"
        "by that environment variable; secrets are referenced as {env: NAME} or {file: PATH}.\n\n"
        "examples:\n"
        "  release-custodian config validate release-custodian.yaml\n"
        "  release-custodian config schema > release-custodian.schema.json",
    )
    commands = parser.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    validate = commands.add_parser(
        "validate",
        help="check a configuration file; print every problem with its line and key path (exit 2 if any)",
        formatter_class=raw,
        description="Every problem, as FILE:LINE: key.path: problem (exit 2). A valid file may still get\n"
        "warnings (exit 0): an empty enforce allowlist while mode is enforce or a reaper is configured,\n"
        "and in enforce mode caps left at their defaults or set very high.\n\n"
        "--check-connections then opens the ledger (SQLite: the file is a database and writable, or its\n"
        "directory is; PostgreSQL: it connects and reports the server's version) and sends one cheap\n"
        "read-only request to each configured endpoint (ARM: each subscription; GitHub: the org; blob:\n"
        "each storage account's containers), each with a short timeout and no retries. One line per\n"
        "check, ok or FAILED with the cause; exit 2 if any failed. Nothing is created or changed.\n\n"
        "examples:\n"
        "  release-custodian config validate release-custodian.yaml\n"
        "  release-custodian config validate release-custodian.yaml --check-connections\n"
        "  release-custodian config validate prod.yaml --check-connections --timeout 10\n"
        "  release-custodian config validate custodian/sandbox/sandbox-config.yaml   # after loading its env file",
    )
    validate.add_argument("file", type=Path, help="the YAML configuration file")
    validate.add_argument(
        "--check-connections",
        action="store_true",
        help="also open the ledger and reach every configured endpoint once, read-only (exit 2 if any fails)",
    )
    validate.add_argument(
        "--timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="with --check-connections: connect and read timeout of each check (default 5)",
    )
    validate.set_defaults(handler=cmd_validate)
    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of the configuration",
        formatter_class=raw,
        description="examples:\n"
        "  release-custodian config schema > release-custodian.schema.json   # for an editor's YAML support\n"
        "  release-custodian config schema | jq '.properties | keys'",
    )
    schema.set_defaults(handler=cmd_schema)


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        count = len(exc.problems)
        raise BadInputError(
            f"{args.file}: {count} problem{'s' if count != 1 else ''}:\n" + "\n".join(exc.problems)
        ) from exc
    warnings = config_warnings(config, args.file.read_text(encoding="utf-8"), str(args.file))
    err = Console(stderr=True, soft_wrap=True)
    for warning in warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    tally = f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""
    console.print(
        f"{args.file}: valid (mode {config.mode.value}, {len(config.azure.subscriptions)} subscription(s), "
        f"{len(config.azure.registries)} registr{'y' if len(config.azure.registries) == 1 else 'ies'}, "
        f"digest {config.digest()}){tally}",
        highlight=False,
    )
    if not args.check_connections:
        return ExitCode.OK
    failed = 0
    checks = 0
    for result in check_connections(config, args.timeout):
        checks += 1
        failed += not result.ok
        console.print(escape(result.line()), highlight=False, soft_wrap=True)
    if failed:
        raise BadInputError(f"{args.file}: {failed} of {checks} connection checks failed (see above)")
    return ExitCode.OK


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0.1 <= value <= 300:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 300 seconds, got {text}")
    return value


def cmd_schema(args: argparse.Namespace, console: Console) -> int:
    print(json.dumps(config_schema(), indent=2))
    return ExitCode.OK
