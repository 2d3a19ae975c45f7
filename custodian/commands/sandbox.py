"""`release-custodian sandbox ...`: run the local emulators seeded from a scenario, or check a scenario file."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from custodian.errors import BadInputError, ExitCode
from custodian.sandbox.faults import FaultPlan, FaultSpecError

FAULTS_HELP = (
    "fault injection, comma-separated key=value: throttle=FRACTION (ARM 429 / GitHub 403|429 with Retry-After), "
    "server_error=FRACTION, error_status=500|502|503|504, truncate=FRACTION (a list page cut short), "
    "latency_ms=N, retry_after=SECONDS, seed=N, path_regex=REGEX, methods=GET|DELETE. "
    "Example: --faults throttle=0.33,seed=7"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="run the local GitHub/ARM/Azurite emulators seeded from a scenario",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Local, faithful emulators of ARM (HTTPS), GitHub REST (/api/v3) and Azure blob storage\n"
        "(Azurite), seeded from one scenario file. For demos, development and tests; never for real clouds.\n\n"
        "examples:\n"
        "  release-custodian sandbox serve --env-file .sandbox/sandbox.env\n"
        "  release-custodian sandbox check my-scenario.yaml",
    )
    commands = parser.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="start the emulators, seed them, write an env file and run until interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Start ARM, GitHub and Azurite on free ports of 127.0.0.1, seed them from the scenario and write\n"
            "an env file of shell KEY=VALUE lines: AZURE_ARM_ENDPOINT, REQUESTS_CA_BUNDLE, AZURE_ACCESS_TOKEN,\n"
            "AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST (the Entra ID emulator),\n"
            "AZURE_FEDERATED_TOKEN_FILE (a workload-identity token it trusts),\n"
            "AZURE_SUBSCRIPTION_IDS, AZURE_STORAGE_CONNECTION_STRING, GITHUB_BASE_URL, GITHUB_TOKEN,\n"
            "GITHUB_ORG, GITHUB_RELEASE_REPOS (and AZURE_SUBSCRIPTION_ID for c7n).\n"
            "The scenario's holds are placed in the ledger of custodian/sandbox/sandbox-config.yaml\n"
            "(.custodian/ledger.sqlite in the working directory) or in --ledger URL; once: a hold already there\n"
            "from an earlier serve is not placed again.\n\n"
            "examples:\n"
            "  release-custodian sandbox serve\n"
            "  release-custodian sandbox serve --ledger sqlite:////tmp/sandbox-ledger.sqlite\n"
            "  release-custodian sandbox serve --env-file /tmp/sandbox.env --faults throttle=0.2,seed=1\n"
            "  set -a; . .sandbox/sandbox.env; set +a   # then use the official SDKs against it"
        ),
    )
    serve.add_argument("--scenario", default="seed", help="built-in scenario name or a YAML file (default: seed)")
    serve.add_argument(
        "--env-file",
        type=Path,
        default=Path(".sandbox/sandbox.env"),
        help="where to write the connection settings (default: .sandbox/sandbox.env)",
    )
    serve.add_argument("--faults", default="", help=FAULTS_HELP)
    serve.add_argument("--page-size", type=int, default=100, help="ARM list page size (default: 100)")
    serve.add_argument("--no-azurite", action="store_true", help="do not start Azurite (blob storage)")
    serve.add_argument(
        "--ledger",
        metavar="URL",
        help="the ledger the scenario's holds are placed in (default: the sandbox config's, .custodian/ledger.sqlite)",
    )
    serve.add_argument(
        "--token-lifetime",
        default="1h",
        help="lifetime of the access tokens the Entra ID emulator issues (default: 1h; e.g. 5m)",
    )
    serve.add_argument(
        "--no-static-token",
        action="store_true",
        help="ARM accepts only Entra-issued tokens (AZURE_ACCESS_TOKEN is then one, minted at start)",
    )
    serve.set_defaults(handler=cmd_serve)

    check = commands.add_parser(
        "check",
        help="validate a scenario file and print what it would seed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="examples:\n"
        "  release-custodian sandbox check seed\n"
        "  release-custodian sandbox check tests/sandbox/my-story.yaml",
    )
    check.add_argument("scenario", help="built-in scenario name or a YAML file")
    check.set_defaults(handler=cmd_check)


def parse_faults(spec: str) -> FaultPlan | None:
    if not spec:
        return None
    try:
        return FaultPlan.parse(spec)
    except FaultSpecError as exc:
        raise BadInputError(f"--faults: {exc}") from exc


def token_lifetime_s(text: str) -> int:
    from custodian.config import parse_duration

    try:
        seconds = int(parse_duration(text).total_seconds())
    except ValueError as exc:
        raise BadInputError(f"--token-lifetime: {exc}") from exc
    if seconds < 1:
        raise BadInputError("--token-lifetime must be at least 1s")
    return seconds


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from custodian.sandbox.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise BadInputError(str(exc)) from exc
    console.print(f"[green]ok[/green] {args.scenario}: {scenario.describe()}")
    return ExitCode.OK


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    # imported late: the emulators pull in the SDK stack, which other commands do not need
    from custodian.commands.sandbox_holds import serve_holds
    from custodian.sandbox.azurite import AzuriteUnavailableError
    from custodian.sandbox.runtime import Sandbox
    from custodian.sandbox.scenario import ScenarioError, load_scenario

    if args.page_size < 1:
        raise BadInputError(f"--page-size must be >= 1, got {args.page_size}")
    faults = parse_faults(args.faults)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise BadInputError(str(exc)) from exc

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(
        scenario,
        faults=faults,
        page_size=args.page_size,
        with_azurite=not args.no_azurite,
        token_lifetime_s=token_lifetime_s(args.token_lifetime),
        static_token=not args.no_static_token,
    )
    try:
        try:
            env = sandbox.start()
        except AzuriteUnavailableError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}\n(use --no-azurite to run without blob storage)")
            return ExitCode.INCOMPLETE
        holds = serve_holds(scenario, env.as_env(), sandbox.clock.now(), args.ledger)  # before the env file: ready
        env.write(args.env_file)
        table = Table(title=f"release-custodian sandbox ({args.scenario})", show_header=True)
        table.add_column("setting")
        table.add_column("value", overflow="fold")
        for key, value in env.as_env().items():
            hidden = "TOKEN" in key or "SECRET" in key or "CONNECTION_STRING" in key
            shown = "(in env file)" if hidden and not key.endswith("_FILE") else value
            table.add_row(key, shown)
        console.print(table)
        if sandbox.summary is not None:
            console.print(f"seeded: {sandbox.summary}")
        console.print(escape(holds.describe(sandbox.clock.now())), highlight=False, soft_wrap=True)
        console.print(f"env file: [bold]{args.env_file}[/bold]  (load it with: set -a; . {args.env_file}; set +a)")
        console.print("serving; press Ctrl-C to stop")
        while not stop.wait(0.5):
            pass
        console.print("stopping")
        return ExitCode.OK
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
