"""The reaper's part of a run: collect Azure resources (c7n) and blobs, and the verdicts of L4 and O1-O6.

What is collected is typed (`collect.arm`, `collect.blobs`); the rules are pure (`rules.leftovers`,
`rules.orphans`); what may be done about it is the engine's, like every other part's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from custodian.collect.arm import C7nOutcome, collect_arm
from custodian.collect.blobs import collect_blobs
from custodian.collect.c7n.batch import run_policies_batch
from custodian.collect.c7n.policies import PolicyCheckError, build_policy_set
from custodian.collect.c7n.runner import PolicyRunResult
from custodian.config import Config, ReaperConfig
from custodian.model import AzureResource, Blob, CollectionError, Provider, ReleaseTimeline, Scope, Verdict, blob_unit
from custodian.pricing.table import PriceTable
from custodian.progress import Progress
from custodian.providers.azure.blobs import BlobAccount, BlobSettings
from custodian.rules.leftovers import blob_is_leftover, blob_leftover, completed_versions, resource_leftovers
from custodian.rules.orphans import blob_orphan, is_stale_blob, one_per_target, resource_orphans, stale_marks
from custodian.rules.reaping import ReapSettings
from custodian.rules.release_tags import KnownVersions
from custodian.run.context import Providers, RunTuning

C7N_TOKEN_MARGIN = timedelta(minutes=1)  # a subscription's c7n token must outlive reaper.c7n_timeout by this much
C7N_RETRY_BACKOFF_S = 2.0  # between a c7n child's retries (c7n-azure's own is 45 s; Retry-After still wins)


@dataclass
class ReaperCollection:
    resources: list[AzureResource] = field(default_factory=list)
    blobs: list[Blob] = field(default_factory=list)
    errors: list[CollectionError] = field(default_factory=list)
    populations: dict[str, int] = field(default_factory=dict)
    selections: dict[str, frozenset[str]] = field(default_factory=dict)
    blob_accounts: dict[str, BlobAccount] = field(default_factory=dict)

    def close(self) -> None:
        for account in self.blob_accounts.values():
            account.close()


def reap_settings(config: Config) -> ReapSettings:
    reaper = config.reaper or ReaperConfig.model_validate({"mark_grace": "24h"})
    return ReapSettings(
        mark_tag=reaper.mark_tag,
        hold_tag=reaper.hold_tag,
        mark_grace=reaper.mark_grace,
        leftover_grace=reaper.leftover_grace,
        orphan_disk_min_age=reaper.orphan_disk_min_age,
        stopped_vm_min_age=reaper.stopped_vm_min_age,
        stale_blob_age=reaper.stale_blob_age,
        version_tag_key=config.naming.version_tag_key,
        stage_tag_key=config.naming.stage_tag_key,
        stages=tuple(config.stages),
    )


def policies_directory(configured: Path | None) -> Path:
    """`reaper.policies_dir` (made absolute when the configuration was loaded), else the shipped `policies/`."""
    if configured is None:  # shipped in the package (a link to the repository's policies/ in a checkout)
        return Path(__file__).resolve().parents[1] / "policies"
    return configured.resolve()


def _arm(
    config: Config, providers: Providers, now: datetime, work_dir: Path, progress: Progress, tuning: RunTuning
) -> ReaperCollection:
    reaper = config.reaper
    assert reaper is not None
    out = ReaperCollection()
    subscriptions = list(config.azure.subscriptions)

    def fail(message: str) -> ReaperCollection:
        for subscription in subscriptions:
            scope = Scope.subscription(subscription)
            out.errors.append(CollectionError(Provider.AZURE, scope.key, message, scope))
        return out

    try:
        policy_set = build_policy_set(
            policies_directory(reaper.policies_dir),
            {
                "reaper.orphan_disk_min_age": reaper.orphan_disk_min_age,
                "reaper.stopped_vm_min_age": reaper.stopped_vm_min_age,
            },
            work_dir / "arm",
        )
    except PolicyCheckError as exc:
        return fail("the reaper's c7n policies failed their checks, none was run: " + "; ".join(exc.problems[:10]))
    ca_bundle = str(config.azure.ca_bundle) if config.azure.ca_bundle else None
    token_validity_s = (reaper.c7n_timeout + C7N_TOKEN_MARGIN).total_seconds()

    def run_c7n(
        policy_file: Path, jobs: Sequence[tuple[str, Path]], on_result: Callable[[str, C7nOutcome], None]
    ) -> Mapping[str, C7nOutcome]:
        # ONE c7n child for every subscription (collect.c7n.batch). c7n takes a bearer token, not a
        # credential: one from the run's credential, minted right before each subscription's job and
        # outliving its deadline when the credential can (a failure: that subscription's error)
        return run_policies_batch(
            policy_file,
            jobs,
            arm_endpoint=config.azure.arm_endpoint,
            token_for=lambda _subscription: providers.arm_tokens.mint(token_validity_s).token,
            ca_bundle=ca_bundle,
            timeout_s=reaper.c7n_timeout.total_seconds(),
            dry_run=True,
            read_only=True,
            as_of=now,
            cache="memory",
            retry_total=config.azure.retries if tuning.c7n_retry_total is None else tuning.c7n_retry_total,
            retry_backoff_s=C7N_RETRY_BACKOFF_S if tuning.c7n_retry_backoff_s is None else tuning.c7n_retry_backoff_s,
            http_timeout=(config.azure.connect_timeout.total_seconds(), config.azure.read_timeout.total_seconds()),
            on_result=lambda subscription, result: on_result(subscription, _counted(result)),
        )

    def _counted(result: C7nOutcome) -> C7nOutcome:
        if isinstance(result, PolicyRunResult):  # c7n's own requests are part of the run's cost
            for method, count in result.api_calls.items():
                providers.counter.add("azure", method, count)
        return result

    arm = collect_arm(subscriptions, policy_set, run_c7n, providers.resources, work_dir / "arm", progress)
    out.resources, out.errors, out.populations = arm.resources, arm.errors, arm.populations
    out.selections = arm.selections()
    return out


def _storage_scopes(config: Config, providers: Providers, errors: list[CollectionError]) -> dict[str, Scope | None]:
    assert config.reaper is not None
    scopes: dict[str, Scope | None] = {}
    unresolved = []
    for account in config.reaper.storage_accounts:
        if account.subscription:
            scopes[account.name.lower()] = Scope.subscription(account.subscription)
        else:
            unresolved.append(account.name)
    if not unresolved:
        return scopes
    try:
        found = providers.resources.storage_account_subscriptions(list(config.azure.subscriptions))
    except Exception as exc:  # noqa: BLE001 - unresolved: nothing in these accounts is acted on
        found = {}
        why = f"its subscription could not be resolved (the ARM listing of storage accounts failed: {exc})"
    else:
        why = "its subscription could not be resolved: no configured subscription holds it (set `subscription`)"
    for name in unresolved:
        subscription = found.get(name.lower())
        scopes[name.lower()] = Scope.subscription(subscription) if subscription else None
        if subscription is None:
            errors.append(CollectionError(Provider.AZURE, blob_unit(name), why))
    return scopes


def collect_reaper(
    config: Config,
    providers: Providers,
    timeline: ReleaseTimeline,
    now: datetime,
    work_dir: Path,
    progress: Progress,
    tuning: RunTuning,
    *,
    read_only: bool,
) -> ReaperCollection:
    reaper = config.reaper
    assert reaper is not None
    out = _arm(config, providers, now, work_dir, progress, tuning)
    if not reaper.storage_accounts:
        return out
    settings = reap_settings(config)
    completed = completed_versions(timeline, settings, now)
    known = KnownVersions(timeline.versions())  # indexed once: each blob's tags are a lookup
    ephemeral = {a.name.lower(): frozenset(a.ephemeral_containers) for a in reaper.storage_accounts}

    def is_candidate(blob: Blob) -> bool:
        stale = is_stale_blob(blob, ephemeral.get(blob.account.lower(), frozenset()), settings, now)
        return stale or blob_is_leftover(blob, completed, known, settings)

    scopes = _storage_scopes(config, providers, out.errors)
    blobs = collect_blobs(
        list(reaper.storage_accounts),
        scopes,
        is_candidate,
        _blob_settings(config, tuning, read_only),
        providers.counter,
        providers.credential_factory(),
        progress,
    )
    out.blobs, out.blob_accounts = blobs.blobs, blobs.accounts
    out.errors += blobs.errors
    for scope, count in blobs.populations.items():
        out.populations[scope] = out.populations.get(scope, 0) + count
    return out


def _blob_settings(config: Config, tuning: RunTuning, read_only: bool) -> BlobSettings:
    return replace(
        tuning.blob,
        read_only=read_only,
        connection_timeout_s=config.azure.connect_timeout.total_seconds(),
        read_timeout_s=config.azure.read_timeout.total_seconds(),
    )


def reaper_verdicts(
    config: Config, collection: ReaperCollection, timeline: ReleaseTimeline, now: datetime, prices: PriceTable
) -> list[Verdict]:
    settings = reap_settings(config)
    reaper = config.reaper
    assert reaper is not None
    ephemeral = {a.name.lower(): frozenset(a.ephemeral_containers) for a in reaper.storage_accounts}
    completed = completed_versions(timeline, settings, now)
    known = KnownVersions(timeline.versions())  # indexed once: each blob's tags are a lookup
    verdicts: list[Verdict] = []
    verdicts += resource_leftovers(collection.resources, timeline, settings, now, prices.arm_resource)
    verdicts += resource_orphans(
        collection.resources, collection.selections, timeline, settings, now, prices.arm_resource
    )
    for blob in collection.blobs:
        cost = prices.blob(blob.size, blob.tier)
        if blob_is_leftover(blob, completed, known, settings):
            verdicts.append(blob_leftover(blob, timeline, settings, now, cost, known=known))
        if is_stale_blob(blob, ephemeral.get(blob.account.lower(), frozenset()), settings, now):
            verdicts.append(blob_orphan(blob, timeline, settings, now, cost, known=known))
    merged = one_per_target(verdicts)
    judged = {v.target for v in merged if v.target}
    return merged + stale_marks(collection.resources, judged, timeline, settings)
