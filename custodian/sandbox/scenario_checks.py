"""Cross-reference checks of a schema-valid scenario: references resolve, names are unique, times are ordered.

`check_scenario` returns every problem as ``(path, message)``; the path uses the file's own keys
(``azure.subscriptions[0].resource_groups[1].vms[2].os_disk.disk``) so the loader can point at the
line. ARM names are compared case-insensitively, as ARM does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from custodian.sandbox.github_apps import load_public_key
from custodian.sandbox.github_auth import covers
from custodian.sandbox.scenario_schema import (
    AzureSpec,
    GithubSpec,
    RepoSpec,
    ResourceGroupSpec,
    Scenario,
    StorageSpec,
    When,
)

_SHA = re.compile(r"[0-9a-f]{40}")
_KINDS = {"vms": "VM", "disks": "disk", "nics": "NIC", "public_ips": "public IP", "nsgs": "NSG"}


@dataclass
class Problems:
    """An ordered collection of ``(path, message)`` problems."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def unique(self, path: str, names: Iterable[str], what: str, *, key: str = "", fold_case: bool = True) -> None:
        """Report every repeated name in `names` (the list at `path`; `key` names the item field, if any)."""
        suffix = f".{key}" if key else ""
        seen: dict[str, int] = {}
        for index, name in enumerate(names):
            folded = name.lower() if fold_case else name
            if folded in seen:
                self.add(f"{path}[{index}]{suffix}", f"duplicate {what} {name!r} (first at {path}[{seen[folded]}])")
            else:
                seen[folded] = index

    def before(self, path: str, earlier: When | None, later: When | None, message: str) -> None:
        """Report when `later` is known to precede `earlier`."""
        if earlier is None or later is None or not earlier.comparable_with(later):
            return
        if later.sort_key() < earlier.sort_key():
            self.add(path, message)


def check_scenario(scenario: Scenario) -> list[tuple[str, str]]:
    problems = Problems()
    if scenario.clock is not None and scenario.clock.now.is_relative:
        problems.add("clock.now", f"must be an absolute ISO 8601 time, not {str(scenario.clock.now)!r}")
    if not scenario.stages:
        problems.add("stages", "at least one stage is needed")
    problems.unique("stages", scenario.stages, "stage")
    _check_github(scenario.github, problems)
    _check_apps(scenario.github, problems)
    _check_azure(scenario.azure, set(scenario.stages), problems)
    _check_storage(scenario.storage, problems)
    for index, hold in enumerate(scenario.holds):
        if (hold.version is None) == (hold.account is None):
            problems.add(f"holds[{index}]", "a hold names exactly one of version or account")
        problems.before(f"holds[{index}].until", hold.placed_at, hold.until, "a hold must end after it is placed")
    return problems.items


# --------------------------------------------------------------------------------------------------
# GitHub


def _check_github(github: GithubSpec, problems: Problems) -> None:
    orgs = {org.lower() for org in github.orgs}
    problems.unique("github.orgs", github.orgs, "organization")
    problems.unique("github.users", (user.login for user in github.users), "user login", key="login")
    logins = {user.login.lower() for user in github.users}
    if github.site_admin is not None:
        logins.add(github.site_admin.lower())
        if github.site_admin.lower() in orgs:
            problems.add("github.site_admin", f"{github.site_admin!r} is an organization, not a user")
    keys_seen: dict[str, str] = {}
    for u, user in enumerate(github.users):
        path = f"github.users[{u}]"
        if user.login.lower() in orgs:
            problems.add(f"{path}.login", f"{user.login!r} is already an organization login")
        problems.before(f"{path}.suspended_at", user.created_at, user.suspended_at, "suspended before created_at")
        problems.unique(f"{path}.memberships", (m.org for m in user.memberships), "membership of", key="org")
        member_of = set()
        for m, membership in enumerate(user.memberships):
            if membership.org.lower() not in orgs:
                problems.add(f"{path}.memberships[{m}].org", f"unknown organization {membership.org!r}")
            member_of.add(membership.org.lower())
        for t, token in enumerate(user.impersonation_tokens):
            problems.before(
                f"{path}.impersonation_tokens[{t}].expires_at",
                token.created_at,
                token.expires_at,
                "a token cannot expire before it is created",
            )
        for g, grant in enumerate(user.pat_grants):
            gpath = f"{path}.pat_grants[{g}]"
            if grant.org.lower() not in orgs:
                problems.add(f"{gpath}.org", f"unknown organization {grant.org!r}")
            elif grant.org.lower() not in member_of:
                problems.add(f"{gpath}.org", f"{user.login!r} is not a member of {grant.org!r} (add a membership)")
            problems.before(f"{gpath}.expires_at", grant.granted_at, grant.expires_at, "expires before it is granted")
            problems.before(f"{gpath}.last_used_at", grant.granted_at, grant.last_used_at, "used before it is granted")
        problems.unique(
            f"{path}.ssh_keys", (k.title for k in user.ssh_keys), "SSH key title", key="title", fold_case=False
        )
        for k, key in enumerate(user.ssh_keys):
            if key.key is None:
                continue
            if key.key in keys_seen:
                problems.add(
                    f"{path}.ssh_keys[{k}].key", f"this public key is already registered to {keys_seen[key.key]}"
                )
            keys_seen[key.key] = user.login
    problems.unique("github.repos", (repo.name for repo in github.repos), "repository", key="name")
    for r, repo in enumerate(github.repos):
        path = f"github.repos[{r}]"
        owner = repo.name.split("/", 1)[0].lower()
        if owner not in orgs and owner not in logins:
            problems.add(f"{path}.name", f"owner {owner!r} is neither a listed organization nor a user")
        problems.unique(f"{path}.tags", (tag.name for tag in repo.tags), "tag", key="name", fold_case=False)
        tags = {tag.name: tag for tag in repo.tags}
        _check_tags(repo, path, problems)
        problems.unique(
            f"{path}.releases", (release.tag for release in repo.releases), "release of tag", key="tag", fold_case=False
        )
        for i, release in enumerate(repo.releases):
            tag = tags.get(release.tag)
            if tag is None:
                problems.add(f"{path}.releases[{i}].tag", f"no tag {release.tag!r} in {path}.tags")
            else:
                problems.before(
                    f"{path}.releases[{i}].at", tag.at, release.at, f"release created before its tag {tag.name!r}"
                )
            problems.before(
                f"{path}.releases[{i}].published_at", release.at, release.published_at, "published before created"
            )
            if release.draft and release.published_at is not None:
                problems.add(f"{path}.releases[{i}].published_at", "a draft release is not published")
        for d, deployment in enumerate(repo.deployments):
            dpath = f"{path}.deployments[{d}]"
            tag = tags.get(deployment.ref)
            if tag is None and deployment.ref != repo.default_branch and not _SHA.fullmatch(deployment.ref):
                problems.add(
                    f"{dpath}.ref", f"{deployment.ref!r} is not a tag of the repo, its default branch or a sha"
                )
            if tag is not None:
                problems.before(f"{dpath}.at", tag.at, deployment.at, f"deployed before tag {tag.name!r} exists")
            for s, status in enumerate(deployment.statuses):
                problems.before(f"{dpath}.statuses[{s}].at", deployment.at, status.at, "status before the deployment")


def _check_apps(github: GithubSpec, problems: Problems) -> None:
    accounts = {login.lower() for login in [*github.orgs, *(u.login for u in github.users)]}
    if github.site_admin:
        accounts.add(github.site_admin.lower())
    problems.unique("github.apps", (str(app.id) for app in github.apps), "App id", key="id")
    problems.unique("github.apps", (app.slug for app in github.apps), "App slug", key="slug")
    installation_ids: dict[int, str] = {}
    for a, app in enumerate(github.apps):
        path = f"github.apps[{a}]"
        if app.owner is not None and app.owner.lower() not in accounts:
            problems.add(f"{path}.owner", f"unknown account {app.owner!r}")
        if app.public_key is not None:
            try:
                load_public_key(app.public_key)
            except ValueError as exc:
                problems.add(f"{path}.public_key", f"this {exc}")
        problems.unique(
            f"{path}.installations", (i.account for i in app.installations), "installation on", key="account"
        )
        for i, installation in enumerate(app.installations):
            ipath = f"{path}.installations[{i}]"
            if installation.id in installation_ids:
                problems.add(
                    f"{ipath}.id",
                    f"duplicate installation id {installation.id} (first at {installation_ids[installation.id]})",
                )
            installation_ids.setdefault(installation.id, ipath)
            if installation.account.lower() not in accounts:
                problems.add(f"{ipath}.account", f"unknown account {installation.account!r}")
            for name, level in (installation.permissions or {}).items():
                if not covers(app.permissions.get(name), level):
                    problems.add(f"{ipath}.permissions.{name}", f"{level!r} is more than the App asks for")


def _check_tags(repo: RepoSpec, path: str, problems: Problems) -> None:
    """Tag times are ordered (commit, then tagger date, then push) and a commit has one date."""
    commit_dates: dict[str, tuple[int, When]] = {}
    for t, tag in enumerate(repo.tags):
        tpath = f"{path}.tags[{t}]"
        if tag.tagger_date is not None and not tag.annotated:
            problems.add(f"{tpath}.tagger_date", "only an annotated tag has a tagger date (add annotated: true)")
        tagged = tag.tagger_date if tag.annotated and tag.tagger_date is not None else tag.at
        problems.before(f"{tpath}.tagger_date", tag.tagger_date, tag.at, "pushed (at) before its tagger date")
        problems.before(f"{tpath}.commit_at", tag.commit_at, tagged, "the commit is dated after its tag")
        if tag.sha is None or tag.commit_at is None:
            continue
        first, dated = commit_dates.setdefault(tag.sha, (t, tag.commit_at))
        if first != t and dated.comparable_with(tag.commit_at) and dated.sort_key() != tag.commit_at.sort_key():
            problems.add(f"{tpath}.commit_at", f"commit {tag.sha[:7]} is dated {str(dated)!r} by {path}.tags[{first}]")


# --------------------------------------------------------------------------------------------------
# Azure


def _check_azure(azure: AzureSpec, stages: set[str], problems: Problems) -> None:
    problems.unique("azure.subscriptions", (sub.id for sub in azure.subscriptions), "subscription id", key="id")
    registries: list[tuple[str, str]] = []
    accounts: list[tuple[str, str]] = []
    stage_kinds: dict[tuple[str, str], str] = {}
    for s, sub in enumerate(azure.subscriptions):
        spath = f"azure.subscriptions[{s}]"
        problems.unique(
            f"{spath}.resource_groups", (rg.name for rg in sub.resource_groups), "resource group", key="name"
        )
        for g, rg in enumerate(sub.resource_groups):
            path = f"{spath}.resource_groups[{g}]"
            _check_resource_group(rg, path, problems)
            for r, registry in enumerate(rg.registries):
                rpath = f"{path}.registries[{r}]"
                registries.append((rpath, registry.name))
                if registry.stage not in stages:
                    problems.add(
                        f"{rpath}.stage", f"unknown stage {registry.stage!r} (stages: {', '.join(sorted(stages))})"
                    )
                pair = (registry.stage, registry.kind)
                if pair in stage_kinds:
                    problems.add(
                        f"{rpath}.kind",
                        f"stage {registry.stage!r} already has a {registry.kind} registry ({stage_kinds[pair]})",
                    )
                stage_kinds[pair] = rpath
                problems.unique(f"{rpath}.tokens", (token.name for token in registry.tokens), "token", key="name")
                for t, token in enumerate(registry.tokens):
                    tpath = f"{rpath}.tokens[{t}]"
                    problems.unique(
                        f"{tpath}.passwords", (p.name for p in token.passwords), "password", key="name", fold_case=False
                    )
                    for p, password in enumerate(token.passwords):
                        problems.before(
                            f"{tpath}.passwords[{p}].expiry",
                            password.created,
                            password.expiry,
                            "expires before it is created",
                        )
            accounts.extend(
                (f"{path}.storage_accounts[{a}]", account.name) for a, account in enumerate(rg.storage_accounts)
            )
    _unique_global(registries, "registry name", problems)
    _unique_global(accounts, "storage account name", problems)


def _unique_global(named: list[tuple[str, str]], what: str, problems: Problems) -> None:
    seen: dict[str, str] = {}
    for path, name in named:
        key = name.lower()
        if key in seen:
            problems.add(f"{path}.name", f"duplicate {what} {name!r} (names are global; first at {seen[key]})")
        else:
            seen[key] = path


def _check_resource_group(rg: ResourceGroupSpec, path: str, problems: Problems) -> None:
    for kind, label in _KINDS.items():
        problems.unique(f"{path}.{kind}", (item.name for item in getattr(rg, kind)), f"{label} name", key="name")
    disks = {disk.name.lower(): disk for disk in rg.disks}
    nics = {nic.name.lower(): nic for nic in rg.nics}
    pips = {pip.name.lower(): pip for pip in rg.public_ips}
    nsgs = {nsg.name.lower() for nsg in rg.nsgs}
    disk_users: dict[str, str] = {}
    nic_users: dict[str, str] = {}
    for v, vm in enumerate(rg.vms):
        vpath = f"{path}.vms[{v}]"
        problems.before(
            f"{vpath}.power_state_since", vm.time_created, vm.power_state_since, "before the VM was created"
        )
        refs = [(f"{vpath}.os_disk.disk", vm.os_disk.disk)]
        refs += [(f"{vpath}.data_disks[{d}].disk", ref.disk) for d, ref in enumerate(vm.data_disks)]
        for ref_path, name in refs:
            disk = disks.get(name.lower())
            if disk is None:
                problems.add(ref_path, f"no disk {name!r} in resource group {rg.name!r}")
                continue
            if name.lower() in disk_users:
                problems.add(ref_path, f"disk {name!r} is already attached at {disk_users[name.lower()]}")
                continue
            disk_users[name.lower()] = ref_path
            if disk.managed_by is not None:
                problems.add(ref_path, f"disk {name!r} has managed_by set; it cannot also be attached to a VM here")
            if disk.state is not None:
                problems.add(
                    ref_path, f"disk {name!r} has an explicit state {disk.state!r}; attached disks derive theirs"
                )
        if len(vm.data_disks) > 64:
            problems.add(f"{vpath}.data_disks", "at most 64 data disks")
        luns: dict[int, int] = {}
        for d, data_ref in enumerate(vm.data_disks):
            if data_ref.lun is not None and data_ref.lun in luns:
                problems.add(
                    f"{vpath}.data_disks[{d}].lun",
                    f"lun {data_ref.lun} is already used by data_disks[{luns[data_ref.lun]}]",
                )
            elif data_ref.lun is not None:
                luns[data_ref.lun] = d
        primaries = [ref for ref in vm.nics if ref.primary]
        if len(primaries) > 1:
            problems.add(f"{vpath}.nics", "at most one NIC can be primary")
        for n, ref in enumerate(vm.nics):
            ref_path = f"{vpath}.nics[{n}].nic"
            nic = nics.get(ref.nic.lower())
            if nic is None:
                problems.add(ref_path, f"no NIC {ref.nic!r} in resource group {rg.name!r}")
            elif ref.nic.lower() in nic_users:
                problems.add(ref_path, f"NIC {ref.nic!r} is already attached at {nic_users[ref.nic.lower()]}")
            elif nic.private_endpoint is not None:
                problems.add(ref_path, f"NIC {ref.nic!r} belongs to a private endpoint; a VM cannot use it")
            else:
                nic_users[ref.nic.lower()] = ref_path
    for p, address in enumerate(rg.public_ips):
        if address.sku == "Standard" and address.allocation == "Dynamic":
            problems.add(f"{path}.public_ips[{p}].allocation", "a Standard public IP must use Static allocation")
    pip_users: dict[str, str] = {}
    for n, nic in enumerate(rg.nics):
        npath = f"{path}.nics[{n}]"
        if nic.public_ip is not None:
            pip = pips.get(nic.public_ip.lower())
            if pip is None:
                problems.add(f"{npath}.public_ip", f"no public IP {nic.public_ip!r} in resource group {rg.name!r}")
            elif nic.public_ip.lower() in pip_users:
                problems.add(
                    f"{npath}.public_ip",
                    f"public IP {nic.public_ip!r} is already used by {pip_users[nic.public_ip.lower()]}",
                )
            elif pip.nat_gateway is not None:
                problems.add(
                    f"{npath}.public_ip", f"public IP {nic.public_ip!r} belongs to NAT gateway {pip.nat_gateway!r}"
                )
            else:
                pip_users[nic.public_ip.lower()] = npath
        if nic.nsg is not None and nic.nsg.lower() not in nsgs:
            problems.add(f"{npath}.nsg", f"no NSG {nic.nsg!r} in resource group {rg.name!r}")


# --------------------------------------------------------------------------------------------------
# Blob storage


def _check_storage(storage: StorageSpec, problems: Problems) -> None:
    problems.unique("storage.containers", (c.name for c in storage.containers), "container", key="name")
    for c, container in enumerate(storage.containers):
        for b, blob in enumerate(container.blobs):
            if blob.size is not None and blob.content is not None:
                problems.add(f"storage.containers[{c}].blobs[{b}]", "give either size or content, not both")
        problems.unique(
            f"storage.containers[{c}].blobs",
            (blob.name for blob in container.blobs),
            "blob",
            key="name",
            fold_case=False,
        )
