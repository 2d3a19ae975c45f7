"""The emulators of `python -m bench`, in their own process: `python -m bench.emulators --size S --workdir DIR`.

Builds the scale scenario (`bench.scale_scenario`), starts the sandbox (ARM and Entra ID over HTTPS,
GitHub; threading servers, so requests are served concurrently) with a per-request latency
(`FaultPlan(latency_ms=N)`, applied to ARM and GitHub), seeds it, starts Azurite and uploads the blobs
through a fast path (concurrent raw `Put Blob` requests of empty blobs with their index tags, under
one container SAS: the SDK's per-request overhead made seeding 100,000 blobs too slow), then writes
`DIR/env.json` (the sandbox's env contract plus the seeding times) and serves until stdin closes.

Control, one command per stdin line, one JSON line answered on stdout:
- `stats`: the requests each emulator served since the last `reset`, as `[server, class, method,
  status, count]` rows (class: `graphql`, `rest`, `acr`, `arm`, `instance-view`, `entra`);
- `reset`: clear the request logs and restart GitHub's rate-limit window (a benchmark's runs
  together exceed one hour's 5,000);
- `quit`.
Azurite (a node process) keeps no request log: blob calls are counted by the client (`RunOutcome.api_calls`).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from bench.scale_scenario import SIZES, BlobPlan, build_plan
from custodian.sandbox.azurite import Azurite, start_azurite
from custodian.sandbox.faults import FaultPlan
from custodian.sandbox.httpserver import EmulatorServer
from custodian.sandbox.runtime import Sandbox

ARM_PAGE_SIZE = 100  # ARM's default page (API-CONTRACTS: 100 rows by default, $top up to 1,000)
UPLOAD_THREADS = 8


def request_class(server: str, path: str, query: str = "") -> str:
    lowered = path.lower()
    if server == "github":
        return "graphql" if lowered.endswith("/graphql") else "rest"
    if server == "arm":
        if lowered.endswith("/instanceview") or "expand=instanceview" in query.lower():
            return "instance-view"
        return "acr" if "/microsoft.containerregistry/" in lowered else "arm"
    return server


def stats(servers: dict[str, EmulatorServer]) -> list[list[object]]:
    rows: Counter[tuple[str, str, str, int]] = Counter()
    for name, server in servers.items():
        for record in server.requests:
            rows[(name, request_class(name, record.path, record.query), record.method, record.status)] += 1
    return [[*key, n] for key, n in sorted(rows.items())]


def upload_blobs(connection_string: str, blobs: list[BlobPlan]) -> None:
    """Create the containers and put every (empty) blob with its index tags, concurrently, over raw HTTP."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    service = BlobServiceClient.from_connection_string(connection_string)
    account = str(service.account_name)
    key = service.credential.account_key
    sas: dict[str, str] = {}
    for container in sorted({b.container for b in blobs}):
        with contextlib.suppress(ResourceExistsError):  # a rerun on the same Azurite
            service.create_container(container)
        permission = ContainerSasPermissions(write=True, create=True, tag=True)
        expiry = datetime.now(UTC) + timedelta(hours=12)
        sas[container] = generate_container_sas(
            account, container, account_key=key, permission=permission, expiry=expiry
        )
    url = urlsplit(service.url)
    local = threading.local()

    def put(blob: BlobPlan) -> None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=60)
        headers = {"x-ms-blob-type": "BlockBlob", "x-ms-version": "2021-08-06", "Content-Length": "0"}
        if blob.tags:
            headers["x-ms-tags"] = urlencode(blob.tags)
        path = f"{url.path.rstrip('/')}/{blob.container}/{quote(blob.name)}?{sas[blob.container]}"
        local.conn.request("PUT", path, body=b"", headers=headers)
        response = local.conn.getresponse()
        body = response.read()
        if response.status != 201:
            raise RuntimeError(f"Put Blob {blob.container}/{blob.name}: HTTP {response.status} {body[:300]!r}")

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for _ in pool.map(put, blobs):
            pass


def serve(size_name: str, seed: int, latency_ms: int, workdir: Path, blobs: int | None, azurite_on: bool) -> None:
    started = time.perf_counter()
    size = SIZES[size_name]
    plan = build_plan(size, seed, blobs=blobs)
    timings = {"scenario_s": time.perf_counter() - started}
    faults = FaultPlan(latency_ms=latency_ms) if latency_ms else None
    sandbox = Sandbox(
        plan.scenario, workdir=workdir / "sandbox", faults=faults, page_size=ARM_PAGE_SIZE, with_azurite=False
    )
    azurite: Azurite | None = None
    try:
        mark = time.perf_counter()
        env = sandbox.start()
        timings["seed_arm_github_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        if azurite_on:
            azurite = start_azurite(memory_limit_mb=2048)
            upload_blobs(azurite.connection_string, plan.blobs)
        timings["seed_blobs_s"] = time.perf_counter() - mark
        assert sandbox.arm_server and sandbox.github_server and sandbox.entra_server and sandbox.github
        servers = {"arm": sandbox.arm_server, "github": sandbox.github_server, "entra": sandbox.entra_server}
        document = {
            "env": {**env.as_env(), "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string if azurite else ""},
            "timings": timings,
            "counts": plan.counts,
            "size": size_name,
            "seed": seed,
            "latency_ms": latency_ms,
        }
        target = workdir / "env.json"
        (workdir / "env.json.tmp").write_text(json.dumps(document), encoding="utf-8")
        (workdir / "env.json.tmp").replace(target)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                answer: object = stats(servers)
            elif command == "reset":
                for server in servers.values():
                    server.clear_log()
                sandbox.github.reset()
                answer = "ok"
            elif command == "quit":
                break
            else:
                answer = f"unknown command {command!r}"
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        if azurite is not None:
            azurite.stop()
        sandbox.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.emulators")
    parser.add_argument("--size", choices=sorted(SIZES), required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--blobs", type=int, default=None, help="override the size's blob count")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--no-azurite", action="store_true", help="no blob storage (the smoke test's ARM-only runs)")
    args = parser.parse_args(argv)
    serve(args.size, args.seed, args.latency_ms, args.workdir, args.blobs, not args.no_azurite)


if __name__ == "__main__":
    main()
