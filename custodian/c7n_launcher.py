"""Child-process entry point that runs Cloud Custodian's CLI against a configured ARM endpoint.

Run as ``python -m custodian.c7n_launcher [--arm-endpoint URL] [--token-audience URL] -- <c7n args>``
(normally by `custodian.c7n_runner`, never by hand). Before handing the remaining arguments to
``c7n.cli.main()`` it points c7n-azure at the ARM endpoint: c7n-azure takes every management-plane
URL and token scope from msrestazure's ``AZURE_PUBLIC_CLOUD`` (its provider maps the default cloud,
``AzureCloud``, to that very object), so the launcher rewrites that object's endpoints in place:

- ``endpoints.resource_manager``: the base URL of every track-2 management client
  (``Session.client``) and the scope of c7n-azure's raw ARM REST reads;
- ``endpoints.active_directory_resource_id`` and ``endpoints.management``: the token audience
  (``Session.resource_endpoint``, the default ``credential_scopes``), the same value in the public
  cloud.

Credentials, subscription and CA bundle arrive the way c7n-azure reads them
(``AZURE_ACCESS_TOKEN``, ``AZURE_SUBSCRIPTION_ID``, ``REQUESTS_CA_BUNDLE``); this module reads no
environment itself. This is the only module of ours that may end the process (it *is* the process).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["apply_arm_endpoint", "main", "normalise_endpoint"]


def normalise_endpoint(url: str) -> str:
    """An absolute https URL with exactly one trailing slash (c7n-azure appends `.default` to it)."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.netloc:  # azure-core sends bearer tokens over https only
        raise ValueError(f"the ARM endpoint must be an absolute https URL, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the ARM endpoint must not carry a query or fragment, got {url!r}")
    return url.strip().rstrip("/") + "/"


def apply_arm_endpoint(endpoint: str, token_audience: str | None = None) -> None:
    """Point c7n-azure's default cloud (msrestazure ``AZURE_PUBLIC_CLOUD``) at `endpoint`, in place."""
    from msrestazure.azure_cloud import AZURE_PUBLIC_CLOUD  # type: ignore[import-untyped]

    base = normalise_endpoint(endpoint)
    audience = normalise_endpoint(token_audience) if token_audience else base
    endpoints = AZURE_PUBLIC_CLOUD.endpoints
    endpoints.resource_manager = base
    endpoints.active_directory_resource_id = audience
    endpoints.management = audience


def _parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    args = list(argv)
    if "--" not in args:
        raise SystemExit("usage: python -m custodian.c7n_launcher [--arm-endpoint URL] [--token-audience URL] -- ARGS")
    split = args.index("--")
    parser = argparse.ArgumentParser(prog="python -m custodian.c7n_launcher")
    parser.add_argument("--arm-endpoint", default=None, help="ARM base URL (default: the public cloud's)")
    parser.add_argument("--token-audience", default=None, help="token audience (default: the ARM endpoint)")
    return parser.parse_args(args[:split]), args[split + 1 :]


def main(argv: Sequence[str] | None = None) -> None:
    """Apply the endpoint, then run ``c7n.cli.main`` with the arguments after ``--``."""
    options, c7n_args = _parse(sys.argv[1:] if argv is None else argv)
    if options.arm_endpoint:
        try:
            apply_arm_endpoint(options.arm_endpoint, options.token_audience)
        except ValueError as exc:
            raise SystemExit(f"c7n launcher: {exc}") from exc
    from c7n import cli

    sys.argv = ["custodian", *c7n_args]  # c7n names its process after argv
    cli.main(c7n_args)


if __name__ == "__main__":
    main()
