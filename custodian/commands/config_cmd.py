"""`release-custodian config validate|schema`: check a configuration file, print the JSON Schema."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from custodian.config import ConfigError, config_schema, load_config
from custodian.errors import BadInputError, ExitCode


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "config",
        help="validate a configuration file or print its JSON Schema",
        description="The configuration is one YAML file; unknown keys are errors. ${VAR} in a value is "
        "replaced by that environment variable; secrets are referenced as {env: NAME} or {file: PATH}.",
    )
    commands = parser.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    validate = commands.add_parser(
        "validate",
        help="check a configuration file; print every problem with its line and key path (exit 2 if any)",
    )
    validate.add_argument("file", type=Path, help="the YAML configuration file")
    validate.set_defaults(handler=cmd_validate)
    schema = commands.add_parser("schema", help="print the JSON Schema of the configuration")
    schema.set_defaults(handler=cmd_schema)


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        count = len(exc.problems)
        raise BadInputError(
            f"{args.file}: {count} problem{'s' if count != 1 else ''}:\n" + "\n".join(exc.problems)
        ) from exc
    console.print(
        f"{args.file}: valid (mode {config.mode.value}, {len(config.azure.subscriptions)} subscription(s), "
        f"{len(config.azure.registries)} registr{'y' if len(config.azure.registries) == 1 else 'ies'}, "
        f"digest {config.digest()})",
        highlight=False,
    )
    return ExitCode.OK


def cmd_schema(args: argparse.Namespace, console: Console) -> int:
    print(json.dumps(config_schema(), indent=2))
    return ExitCode.OK
