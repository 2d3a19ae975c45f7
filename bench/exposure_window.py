"""Benchmark: the exposure window of a stage hand-off, with webhooks and with the schedule alone, in one run.

The exposure window is the time from stage S+1's tag appearing to the first moment no credential
of stage S works. Over TRIALS versions each (default 100), on a sandbox (ARM + GitHub emulators,
no Azurite) seeded with versions that are in qa, each with a qa GitHub machine user holding a live
impersonation token and a qa ACR token holding a password, with `lifecycle.handoff_grace: 0`:

- `webhooks`: the service's webhook endpoint, lease keeper and event runner run in this process
  (the default `poll_every`, 2 s); the GitHub emulator delivers its signed `create` webhook.
  Clock starts when `POST git/refs` creates the uat tag; it stops when both credentials are
  refused: the GitHub token by `GET /user` answering 401/403 (a real request with the token),
  the ACR token by its registry's state in the ARM emulator (status `disabled` or no password
  left; the emulator has no registry data plane to log in to). The journal is never read.
- `schedule`: no webhook. The uat tag is pushed, then the scheduled `accounts` job's run (the
  product's job body, same engine) is started and the same probes time it. A scheduled run
  starts at the accounts job's next slot: the wait for it is the default cadence's (`*/15 * * * *`)
  next slot after a tag pushed at a uniformly random moment (seeded), added to the measured time,
  not slept (100 trials would take a day).

Prints p50 / p99 / max per mode, side by side, the median API calls of one run (from each run's
`findings.json`: the event's version-scoped run reads one version, the scheduled run every
version), and whether the webhook p99 is under the issue's 60-second goal.
Run: `.venv/bin/python bench/exposure_window.py [TRIALS]`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from custodian.config import Config, JobKind, parse_config
from custodian.ledger.store import Ledger
from custodian.progress import NullProgress
from custodian.sandbox.runtime import Sandbox
from custodian.sandbox.scenario import parse_scenario
from custodian.service.events import EventRunner
from custodian.service.health import HealthServer
from custodian.service.jobs import JobContext, accounts_job
from custodian.service.lease import LeaseKeeper
from custodian.service.webhooks import WebhookReceiver

SUB = "11111111-1111-4111-8111-111111111111"
RG = "rg-registries"
REGISTRY = "qaregistry"
REPO = "acme/product"
SECRET = "bench-webhook-secret"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def version_of(mode: str, i: int) -> str:
    return f"v{1 if mode == 'webhooks' else 2}.0.{i}"


def scenario_text(trials: int) -> str:
    versions = [version_of(mode, i) for mode in ("webhooks", "schedule") for i in range(trials)]
    tags = "\n".join(f"        - {{name: {v}-qa, at: now - 1h}}" for v in versions)
    users = "\n".join(
        f"    - {{login: {v.replace('.', '-')}-qa-gh-sa, name: {v}-qa-gh-sa, created_at: now - 1h,"
        f" memberships: [{{org: acme}}], impersonation_tokens: [{{scopes: [repo], created_at: now - 1h,"
        f" expires_at: now + 7d}}]}}"
        for v in versions
    )
    tokens = "\n".join(
        f"                - {{name: {v.replace('.', '-')}-qa-acr-sa, created: now - 1h,"
        f" passwords: [{{name: password1, created: now - 1h, expiry: now + 7d}}]}}"
        for v in versions
    )
    return f"""
stages: [qa, uat, prod]
github:
  orgs: [acme]
  site_admin: octo-admin
  repos:
    - name: {REPO}
      tags:
{tags}
  users:
{users}
azure:
  subscriptions:
    - id: {SUB}
      resource_groups:
        - name: {RG}
          location: eastus
          registries:
            - name: {REGISTRY}
              kind: standard
              stage: qa
              tokens:
{tokens}
"""


def config_for(sandbox: Sandbox, tmp: Path, port: int | None) -> Config:
    env = sandbox.env
    os.environ.update({"BENCH_GITHUB_TOKEN": env.github_token, "BENCH_ARM_TOKEN": env.azure_access_token})
    os.environ["BENCH_WEBHOOK_SECRET"] = SECRET
    service = f"service: {{health: {{port: {port}}}, webhooks: {{secret: {{env: BENCH_WEBHOOK_SECRET}}}}}}"
    text = f"""
github: {{mode: enterprise-server, base_url: "{env.github_base_url}", org: acme, release_repos: [{REPO}],
          token: {{env: BENCH_GITHUB_TOKEN}}}}
azure:
  arm_endpoint: "{env.arm_endpoint}"
  ca_bundle: "{env.ca_bundle}"
  subscriptions: [{SUB}]
  access_token: {{env: BENCH_ARM_TOKEN}}
  registries: [{{stage: qa, kind: standard, subscription: {SUB}, resource_group: {RG}, name: {REGISTRY}}}]
lifecycle: {{handoff_grace: 0s}}
mode: enforce
enforce: {{allowed_subscriptions: [{SUB}], allowed_orgs: [acme], max_actions_per_run: 100, max_actions_percent: 100}}
ledger: {{url: "sqlite:///{tmp / "ledger.sqlite"}"}}
reports: {{directory: "{tmp / "reports"}"}}
{service if port is not None else ""}
"""
    return parse_config(text, "bench")


class Probes:
    """Whether a version's qa credentials still work, asked of the emulators (never of the journal)."""

    def __init__(self, sandbox: Sandbox) -> None:
        assert sandbox.github is not None and sandbox.arm is not None
        self.sandbox = sandbox
        self.github_url = sandbox.env.github_base_url
        with sandbox.github.store.lock:
            self.tokens = {rec.login.lower(): rec.token for rec in sandbox.github.store.tokens.values()}
        base = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerRegistry/registries"
        self.registry = f"{base}/{REGISTRY}"

    def github_token_works(self, version: str) -> bool:
        secret = self.tokens[f"{version.replace('.', '-')}-qa-gh-sa"]
        request = urllib.request.Request(f"{self.github_url}/user", headers={"Authorization": f"token {secret}"})
        try:
            with _NO_PROXY.open(request, timeout=10) as answer:
                return bool(answer.status == 200)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                return False
            raise

    def acr_token_works(self, version: str) -> bool:
        assert self.sandbox.arm is not None
        doc = self.sandbox.arm.store.raw(f"{self.registry}/tokens/{version.replace('.', '-')}-qa-acr-sa") or {}
        props = doc.get("properties") or {}
        passwords = (props.get("credentials") or {}).get("passwords") or []
        return str(props.get("status", "enabled")).lower() != "disabled" and bool(passwords)

    def wait_refused(self, version: str, started: float, timeout_s: float = 600.0) -> float:
        """Seconds from `started` to the first probe that finds both credentials refused."""
        while time.monotonic() - started < timeout_s:
            if not self.github_token_works(version) and not self.acr_token_works(version):
                return time.monotonic() - started
            time.sleep(0.02)
        raise TimeoutError(f"{version}: credentials still work after {timeout_s}s")


def push_tag(sandbox: Sandbox, tag: str, at_tag: str) -> None:
    def call(method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{sandbox.env.github_base_url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {sandbox.env.github_token}", "Content-Type": "application/json"},
            method=method,
        )
        with _NO_PROXY.open(request, timeout=10) as answer:
            return json.loads(answer.read())

    sha = call("GET", f"/repos/{REPO}/commits/{at_tag}")["sha"]
    call("POST", f"/repos/{REPO}/git/refs", {"ref": f"refs/tags/{tag}", "sha": sha})


def with_webhooks(sandbox: Sandbox, probes: Probes, tmp: Path, trials: int) -> list[float]:
    config = config_for(sandbox, tmp, port=0)
    assert config.service.webhooks is not None and sandbox.github is not None
    clock = sandbox.clock.now
    with Ledger.open(config.ledger.url) as ledger:
        keeper = LeaseKeeper(
            ledger, holder="bench", ttl=timedelta(seconds=30), renew_every=timedelta(seconds=10), clock=clock
        )
        keeper.start()
        hooks = config.service.webhooks
        receiver = WebhookReceiver(config, ledger, clock, SECRET.encode(), hooks.max_body)
        server = HealthServer("127.0.0.1", 0, lambda: {"healthy": True}, lambda: b"", receiver)
        stopping = threading.Event()
        runner = EventRunner(config, ledger, keeper, clock=clock, stopping=stopping, poll_every=hooks.poll_every)
        server.start()
        sandbox.github.configure_webhook(f"http://127.0.0.1:{server.port}/webhooks/github", SECRET)
        runner.start()
        try:
            out = []
            for i in range(trials):
                try:
                    out.append(trial(sandbox, probes, version_of("webhooks", i)))
                except TimeoutError:
                    _explain(ledger, sandbox, version_of("webhooks", i))
                    raise
            return out
        finally:
            stopping.set()
            runner.join()
            server.stop()
            keeper.stop()
            sandbox.github.webhook = None


def _explain(ledger: Ledger, sandbox: Sandbox, version: str) -> None:
    """Why a trial timed out: its deliveries and its event as the ledger has it (to stderr)."""
    hooks = sandbox.github.webhook if sandbox.github is not None else None
    for delivery in hooks.deliveries()[:5] if hooks is not None else []:
        print(f"delivery {delivery.guid}: {delivery.event} {delivery.status_code} {delivery.status}", file=sys.stderr)
    for event in ledger.list_webhook_events():
        if event.version == version:
            print(f"event {event.delivery_id}: {event.status.value} {event.detail}", file=sys.stderr)


def with_schedule(sandbox: Sandbox, probes: Probes, tmp: Path, trials: int) -> list[float]:
    config = config_for(sandbox, tmp, port=None)
    job = config.schedule.jobs["accounts"]
    assert job.kind is JobKind.ACCOUNTS
    cadence = job.cadence()
    rng = random.Random(11)
    day = datetime(2026, 1, 5, tzinfo=UTC)
    out = []
    with Ledger.open(config.ledger.url) as ledger:
        for i in range(trials):
            pushed = day + timedelta(seconds=rng.uniform(0, 86400))
            upcoming = cadence.next_after(pushed)
            assert upcoming is not None
            wait = (upcoming - pushed).total_seconds()

            context = JobContext(
                "accounts", job, upcoming, False, config, ledger, sandbox.clock.now, lambda: None, NullProgress()
            )
            run_slot = functools.partial(accounts_job, context)  # the scheduled job's body, at its slot
            out.append(wait + trial(sandbox, probes, version_of("schedule", i), after_push=run_slot))
    return out


def trial(sandbox: Sandbox, probes: Probes, version: str, after_push: Callable[[], object] | None = None) -> float:
    # the emulator keeps one rate-limit window for every token: the probes' `GET /user` (the machine
    # users' own tokens, every 20 ms) are not the custodian's calls, so each trial starts a new window
    assert sandbox.github is not None
    sandbox.github.reset()
    assert probes.github_token_works(version) and probes.acr_token_works(version), f"{version} is already revoked"
    started = time.monotonic()
    push_tag(sandbox, f"{version}-uat", at_tag=f"{version}-qa")
    if after_push is not None:
        after_push()
    return probes.wait_refused(version, started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def calls_per_run(reports: Path) -> list[int]:
    """The API calls of each run written under `reports` (findings.json `api.calls`, every provider)."""
    out = []
    for path in reports.rglob("findings.json"):
        calls = json.loads(path.read_text()).get("api", {}).get("calls", {})
        out.append(sum(int(n) for methods in calls.values() for n in methods.values()))
    return out


def main(trials: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        scenario = parse_scenario(scenario_text(trials), "exposure.yaml")
        with Sandbox(scenario, workdir=tmp / "sandbox", with_azurite=False) as sandbox:
            probes = Probes(sandbox)
            (tmp / "webhooks").mkdir()
            (tmp / "schedule").mkdir()
            webhooks = with_webhooks(sandbox, probes, tmp / "webhooks", trials)
            schedule = with_schedule(sandbox, probes, tmp / "schedule", trials)
            calls = {mode: calls_per_run(tmp / mode / "reports") for mode in ("webhooks", "schedule")}
    print(f"exposure window over {trials} trials per mode (tag created -> GitHub and ACR credentials refused)")
    print(f"{'mode':>10} {'p50 s':>10} {'p99 s':>10} {'max s':>10} {'mean s':>10} {'calls/run':>10}")
    for label, values in (("webhooks", webhooks), ("schedule", schedule)):
        per_run = statistics.median(calls[label]) if calls[label] else float("nan")
        print(
            f"{label:>10} {percentile(values, 0.5):>10.2f} {percentile(values, 0.99):>10.2f}"
            f" {max(values):>10.2f} {statistics.fmean(values):>10.2f} {per_run:>10.0f}"
        )
    goal = percentile(webhooks, 0.99) < 60
    print(f"webhook p99 under 60 s: {'yes' if goal else 'NO'}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
