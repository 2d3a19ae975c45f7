"""Child-process entry point that runs Cloud Custodian's CLI against a configured ARM endpoint.

Run as ``python -m custodian.collect.c7n.launcher [--arm-endpoint URL] [--token-audience URL] -- <c7n args>``
(normally by `custodian.collect.c7n.runner`, never by hand). Before handing the remaining arguments to
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

More options change how c7n behaves in this child process only (the parent is untouched):

``--as-of ISO8601`` (a time with a zone, e.g. ``2026-11-27T09:00:00Z``)
    c7n evaluates every time-based filter and action as if it were that time: ``mark-for-op``
    stamps ``as-of + grace`` (c7n-azure reads ``c7n_azure.utils.now``), ``marked-for-op`` compares
    the mark with it (``c7n_azure.filters.now``), ``value_type: age`` / ``expiration`` compare with
    it (``c7n.filters.core`` calls ``datetime.datetime.now``), and so do off-hours and the
    ``{now}`` policy variable. Before c7n is imported, ``datetime.datetime`` is replaced by a
    subclass whose ``now``/``utcnow``/``today`` return the real time plus a fixed offset (as-of
    minus the real time at start); the clock still ticks, ``isinstance`` checks accept every
    datetime, and ``time.time()`` (TLS, token expiry, retries) is not shifted. The reaper always
    passes its evaluation time, so the sandbox clock (which a demo advances past a grace) and
    ``audit --as-of`` forecasts are what c7n sees too.
``--read-only``
    No mutating request leaves this process: ``http.client.HTTPConnection.putrequest`` (under
    urllib3, requests and azure-core, so under every c7n-azure client, the background LRO pollers
    and raw ARM calls alike) refuses any method but GET, HEAD and OPTIONS before a byte is sent.
    c7n-azure logs a refused action per resource and carries on; so after c7n returns, the
    launcher logs each refusal as an ERROR record and exits with `READ_ONLY_EXIT` (3), and the
    runner reports the run as failed. Audits and dry runs use it: read-only on the wire, not by
    promise.
``--record-operations FILE``
    Every DELETE response is appended to FILE as one JSON line (request URL, status, the
    ``Azure-AsyncOperation`` / ``Location`` / ``Retry-After`` headers, and the ARM error code and
    message of a refusal), so the caller can poll the long-running operations c7n started and did
    not wait for. Request headers (the bearer token) are never written.
``--retry-total N`` / ``--retry-backoff SECONDS``
    c7n-azure's own retry policy (``c7n_azure.utils.C7nRetryPolicy``: 3 retries, a fixed 45 s
    between them unless ARM's ``Retry-After`` is shorter) for every management client it builds.
    A 500 that outlasts the retries then fails the policy after N x SECONDS instead of ~2 minutes
    per listing (and every policy of the same resource type lists again).
``--batch FD``
    Batch mode (`custodian.collect.c7n.launcher_batch`): no c7n arguments after ``--``; jobs (one
    subscription each, with its token, deadline and ``custodian run`` arguments) arrive on stdin,
    one JSON line each, and each is answered on file descriptor FD. c7n is imported once for all.
``--http-timeout CONNECT,READ``
    Every HTTP call of the child (``requests``, which azure-core's transport uses) gets at most
    these connect and read timeouts (azure-core's own are 300 s each), so an endpoint that accepts
    and never answers fails the call in seconds, and with bounded retries the policy too.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "READ_ONLY_EXIT",
    "WireGuard",
    "apply_arm_endpoint",
    "install_wire_guard",
    "main",
    "normalise_endpoint",
    "parse_as_of",
    "set_c7n_retries",
    "shift_clock",
]

READ_ONLY_EXIT = 3  # the exit code when --read-only refused at least one request
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REAL_DATETIME = _dt.datetime


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


def parse_as_of(text: str) -> _dt.datetime:
    """An ISO 8601 time with a zone (``Z`` or an offset), as UTC; ValueError otherwise."""
    try:
        moment = _REAL_DATETIME.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"--as-of must be an ISO 8601 time such as 2026-11-27T09:00:00Z, got {text!r}") from exc
    if moment.tzinfo is None:
        raise ValueError(f"--as-of needs a time zone (Z or +hh:mm), got {text!r}")
    return moment.astimezone(_dt.UTC)


class _AnyDatetime(type):
    """Metaclass: `isinstance(x, shifted)` holds for every datetime, made before or after the shift."""

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, _REAL_DATETIME)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, _REAL_DATETIME)


def shift_clock(as_of: _dt.datetime) -> _dt.timedelta:
    """Make ``datetime.datetime.now/utcnow/today`` read `as_of` (then tick); returns the offset.

    Call it before importing c7n: modules that did ``from datetime import datetime`` earlier keep
    the real class. See the module docstring for what this covers.
    """
    if as_of.tzinfo is None:
        raise ValueError("shift_clock needs a timezone-aware time")
    offset = as_of - _REAL_DATETIME.now(_dt.UTC)

    class ShiftedDatetime(_REAL_DATETIME, metaclass=_AnyDatetime):
        """``datetime.datetime`` whose notion of "now" is shifted by a fixed offset."""

        @classmethod
        def _wrap(cls, moment: _dt.datetime) -> ShiftedDatetime:
            return cls(
                moment.year,
                moment.month,
                moment.day,
                moment.hour,
                moment.minute,
                moment.second,
                moment.microsecond,
                moment.tzinfo,
                fold=moment.fold,
            )

        @classmethod
        def now(cls, tz: _dt.tzinfo | None = None) -> ShiftedDatetime:
            return cls._wrap(_REAL_DATETIME.now(tz) + offset)

        @classmethod
        def utcnow(cls) -> ShiftedDatetime:
            return cls._wrap(_REAL_DATETIME.now(_dt.UTC).replace(tzinfo=None) + offset)

        @classmethod
        def today(cls) -> ShiftedDatetime:
            return cls.now()

    _dt.datetime = ShiftedDatetime  # type: ignore[misc]
    return offset


class ReadOnlyRefusal(RuntimeError):
    """A mutating request that --read-only stopped before it was sent."""


class WireGuard:
    """What `install_wire_guard` installed: the refusals so far (method and URL, never headers)."""

    def __init__(self, read_only: bool, record: Path | None) -> None:
        self.read_only = read_only
        self.record = record
        self.refused: list[str] = []
        self.calls: dict[str, int] = {}  # HTTP requests sent (every attempt), by method
        self._lock = threading.Lock()

    def check(self, method: str, url: str) -> None:
        with self._lock:
            self.calls[method.upper()] = self.calls.get(method.upper(), 0) + 1
        if self.read_only and method.upper() not in READ_METHODS:
            message = f"refused {method.upper()} {url}: this c7n run is read-only (--read-only)"
            with self._lock:
                self.refused.append(f"{method.upper()} {url}")
            raise ReadOnlyRefusal(message)

    def write(self, entry: dict[str, Any]) -> None:
        if self.record is None:
            return
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock, self.record.open("a", encoding="utf-8") as handle:
            handle.write(line)


def _error_of(response: Any) -> tuple[str | None, str | None]:
    try:
        error = (response.json() or {}).get("error") or {}
    except ValueError:
        return None, None
    return (error.get("code"), error.get("message")) if isinstance(error, dict) else (None, None)


def install_wire_guard(
    *, read_only: bool, record: Path | None, http_timeout: tuple[float, float] | None = None
) -> WireGuard:
    """Guard ``http.client`` (read-only), bound every ``requests`` call by `http_timeout` (connect,
    read; never longer than asked), and record DELETE responses (operations)."""
    import http.client

    import requests.adapters

    guard = WireGuard(read_only, record)
    real_putrequest: Callable[..., Any] = http.client.HTTPConnection.putrequest

    def putrequest(self: http.client.HTTPConnection, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        target = url if "://" in url else f"https://{self.host}:{self.port}{url}"
        guard.check(method, target)
        return real_putrequest(self, method, url, *args, **kwargs)

    http.client.HTTPConnection.putrequest = putrequest  # type: ignore[method-assign]
    if record is None and http_timeout is None:
        return guard
    real_send: Callable[..., Any] = requests.adapters.HTTPAdapter.send

    def send(self: requests.adapters.HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        if http_timeout is not None:
            kwargs["timeout"] = _bounded(kwargs.get("timeout"), http_timeout)
        response = real_send(self, request, *args, **kwargs)
        if record is not None and str(request.method).upper() == "DELETE":
            code, message = _error_of(response) if response.status_code >= 400 else (None, None)
            guard.write(
                {
                    "method": "DELETE",
                    "url": request.url,
                    "status": response.status_code,
                    "azure_async_operation": response.headers.get("Azure-AsyncOperation"),
                    "location": response.headers.get("Location"),
                    "retry_after": response.headers.get("Retry-After"),
                    "error_code": code,
                    "error_message": message,
                }
            )
        return response

    requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]
    return guard


def _bounded(asked: Any, bound: tuple[float, float]) -> tuple[float, float]:
    """`requests`' timeout `asked` (None, a number, or (connect, read)), each part at most `bound`'s."""
    if asked is None:
        return bound
    connect, read = asked if isinstance(asked, tuple) else (asked, asked)
    return (min(connect or bound[0], bound[0]), min(read or bound[1], bound[1]))


def set_c7n_retries(total: int | None, backoff_s: float | None) -> None:
    """Change the defaults of c7n-azure's `C7nRetryPolicy` (imports c7n_azure: call it last)."""
    if total is None and backoff_s is None:
        return
    from c7n_azure.utils import C7nRetryPolicy

    real_init: Callable[..., None] = C7nRetryPolicy.__init__

    def init(self: Any, **kwargs: Any) -> None:
        if total is not None:
            kwargs.setdefault("retry_total", total)
        if backoff_s is not None:
            kwargs.setdefault("retry_backoff_factor", backoff_s)
        real_init(self, **kwargs)

    C7nRetryPolicy.__init__ = init


def _parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    args = list(argv)
    if "--" not in args:
        raise SystemExit(
            "usage: python -m custodian.collect.c7n.launcher [--arm-endpoint URL] [--token-audience URL] -- ARGS"
        )
    split = args.index("--")
    parser = argparse.ArgumentParser(prog="python -m custodian.collect.c7n.launcher")
    parser.add_argument("--arm-endpoint", default=None, help="ARM base URL (default: the public cloud's)")
    parser.add_argument("--token-audience", default=None, help="token audience (default: the ARM endpoint)")
    parser.add_argument("--as-of", default=None, help="evaluate c7n's time-based filters at this ISO 8601 time")
    parser.add_argument("--read-only", action="store_true", help="refuse every mutating request on the wire")
    parser.add_argument("--record-operations", default=None, help="append DELETE responses to this JSON-lines file")
    parser.add_argument("--retry-total", type=int, default=None, help="c7n-azure retries per ARM call (default 3)")
    parser.add_argument("--retry-backoff", type=float, default=None, help="seconds between them (default 45)")
    parser.add_argument(
        "--http-timeout", default=None, help="CONNECT,READ: seconds every HTTP call may take at most (e.g. 10,60)"
    )
    parser.add_argument(
        "--count-calls", default=None, help="write the HTTP requests sent, by method, to this JSON file"
    )
    parser.add_argument(
        "--batch", type=int, default=None, help="batch mode: jobs on stdin, answers on this file descriptor"
    )
    return parser.parse_args(args[:split]), args[split + 1 :]


def main(argv: Sequence[str] | None = None) -> None:
    """Shift the clock, install the guards, apply the endpoint, then run ``c7n.cli.main``."""
    options, c7n_args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        if options.as_of:
            shift_clock(parse_as_of(options.as_of))  # before anything imports c7n
        if options.arm_endpoint:
            apply_arm_endpoint(options.arm_endpoint, options.token_audience)
    except ValueError as exc:
        raise SystemExit(f"c7n launcher: {exc}") from exc
    record = Path(options.record_operations) if options.record_operations else None
    try:
        timeout = _http_timeout(options.http_timeout)
    except ValueError as exc:
        raise SystemExit(f"c7n launcher: --http-timeout {options.http_timeout}: {exc}") from exc
    guard = install_wire_guard(read_only=options.read_only, record=record, http_timeout=timeout)
    from c7n import cli

    set_c7n_retries(options.retry_total, options.retry_backoff)
    if options.batch is not None:  # many subscriptions, one after another (see launcher_batch)
        from custodian.collect.c7n.launcher_batch import run_batch

        run_batch(guard, options.batch, READ_ONLY_EXIT)
        return
    sys.argv = ["custodian", *c7n_args]  # c7n names its process after argv
    try:
        cli.main(c7n_args)
    finally:
        if options.count_calls:
            Path(options.count_calls).write_text(json.dumps(guard.calls, sort_keys=True), encoding="utf-8")
        _report_refusals(guard)


def _http_timeout(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    connect, _, read = text.partition(",")
    pair = (float(connect), float(read or connect))
    if min(pair) <= 0:
        raise ValueError("timeouts must be positive")
    return pair


def _report_refusals(guard: WireGuard) -> None:
    if not guard.refused:
        return
    stamp = _REAL_DATETIME.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    for refusal in guard.refused:  # c7n's log format, so the runner reads them as ERROR records
        print(f"{stamp}: custodian.collect.c7n.launcher:ERROR read-only: refused {refusal}", file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(READ_ONLY_EXIT)


if __name__ == "__main__":
    main()
