"""The scenario loader: schema and times, errors on a corpus of broken files, seeding the real stores and Azurite.

The seed story is also run through the lifecycle rules (accounts collected from the seeded stores),
so the comments in seed.yaml ("L1 FAIL", "HELD", "N2", ...) are checked, not just written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custodian.model import (
    AccountKind,
    Credential,
    CredentialKind,
    DeploymentFact,
    Hold,
    HoldTarget,
    Inventory,
    Provider,
    ReleaseTimeline,
    Scope,
    ServiceAccount,
    StageStart,
    Status,
)
from custodian.rules.holds import expired_holds
from custodian.rules.lifecycle import LifecycleSettings, evaluate_accounts
from custodian.rules.naming import AccountNamer
from custodian.sandbox.arm_store import ArmStore
from custodian.sandbox.clock import SandboxClock
from custodian.sandbox.github_store import GithubStore
from custodian.sandbox.scenario import (
    Scenario,
    ScenarioError,
    SeedSummary,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
    resolved_holds,
    scenario_clock,
    seed_all,
)
from custodian.sandbox.scenario_arm import arm_time
from custodian.sandbox.scenario_schema import TimeSyntaxError, When
from tests.engine_helpers import settled

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
BAD = Path(__file__).parents[1] / "fixtures" / "bad" / "scenarios"  # the bad-input corpus
NONPROD = "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups"
PROD = "/subscriptions/22222222-2222-4222-8222-222222222222/resourceGroups"


@pytest.fixture(scope="module")
def seed() -> Scenario:
    return load_scenario("seed")


# --------------------------------------------------------------------------------------------------
# The built-in scenario


def test_seed_is_built_in_and_valid(seed: Scenario) -> None:
    assert "seed" in builtin_scenarios()
    assert seed.stages == ["qa", "uat", "prod"]
    assert seed.github_org() == "acme"
    assert seed.release_repos() == ["acme/product"]
    assert seed.subscription_ids() == ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]
    assert seed.clock_start() is None  # the story is relative to the real current time
    assert {(r.stage, r.kind) for r in seed.registries()} == {
        (stage, kind) for stage in ("qa", "uat", "prod") for kind in ("secure", "standard")
    }
    assert "6 registries" in seed.describe()


def test_seed_holds_resolve_against_now(seed: Scenario) -> None:
    holds = resolved_holds(seed, NOW)
    version_hold = next(h for h in holds if h.version == "v0.0.0")
    assert version_hold.by == "maria-manager"
    assert version_hold.until == NOW + timedelta(days=5)
    assert any(h.account == "v0.0.1-uat-gh-sa" and h.until < NOW for h in holds)  # an expired one


def test_pinned_clock(tmp_path: Path) -> None:
    path = tmp_path / "pinned.yaml"
    path.write_text("clock: {now: 2026-11-26T08:00:00Z}\n")
    assert scenario_clock(load_scenario(str(path))).now() == NOW
    path.write_text("clock: {now: now - 1h}\n")
    with pytest.raises(ScenarioError, match=r"clock.now: must be an absolute ISO 8601 time"):
        load_scenario(str(path))


# --------------------------------------------------------------------------------------------------
# Times

GOOD_TIMES = [
    ("now", timedelta(0)),
    ("now - 30h", timedelta(hours=-30)),
    ("now + 7d", timedelta(days=7)),
    ("now - 2h30m", timedelta(hours=-2, minutes=-30)),
    ("now-1w2d", timedelta(days=-9)),
    ("now + 1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ("now - 0s", timedelta(0)),
    ("now -  10m", timedelta(minutes=-10)),
]

BAD_TIMES = [
    ("", "is not a time"),
    ("Now", "is not a time"),
    ("yesterday", "is not a time"),
    ("now -", "is not a relative time"),
    ("now - 30", "is not a relative time"),
    ("now - 1.5h", "is not a relative time"),
    ("now - 30 h", "is not a relative time"),
    ("now * 2h", "is not a relative time"),
    ("now -- 2h", "is not a relative time"),
    ("now - 30H", "is not a relative time"),
    ("now - 30x", "unknown unit 'x'"),
    ("now - 2m30h", "largest to smallest"),
    ("now - 1h1h", "largest to smallest"),
    (" now", "leading or trailing spaces"),
    ("2026-11-26T08:00:00", "has no timezone"),
    ("2026-11-26", "is not a time"),
    ("2026-13-40T08:00:00Z", "not a valid ISO 8601 time"),
]


@pytest.mark.parametrize(("text", "offset"), GOOD_TIMES)
def test_relative_times(text: str, offset: timedelta) -> None:
    when = When.parse(text)
    assert when.is_relative
    assert when.resolve(NOW) == NOW + offset


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T08:00:00Z", NOW),
        ("2026-11-26T10:00:00+02:00", NOW),
        ("2026-11-26T08:00:00.250000+00:00", NOW + timedelta(milliseconds=250)),
    ],
)
def test_absolute_times(text: str, expected: datetime) -> None:
    when = When.parse(text)
    assert not when.is_relative
    assert when.resolve(datetime(2000, 1, 1, tzinfo=UTC)) == expected


@pytest.mark.parametrize(("text", "fragment"), BAD_TIMES)
def test_bad_times(text: str, fragment: str) -> None:
    with pytest.raises(TimeSyntaxError) as excinfo:
        When.parse(text)
    assert fragment in str(excinfo.value)


def test_unquoted_iso_time_in_yaml_stays_a_time_string() -> None:
    scenario = parse_scenario(
        "holds: [{version: v1.0.0, by: m, reason: r, placed_at: 2026-11-26T08:00:00Z, until: now}]"
    )
    assert scenario.holds[0].placed_at.absolute == NOW


# --------------------------------------------------------------------------------------------------
# Broken files: every `# expect:` line of a file is one line of the error, and nothing else is


def _expectations(path: Path) -> list[str]:
    return [line.removeprefix("# expect: ") for line in path.read_text().splitlines() if line.startswith("# expect: ")]


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_scenario(path: Path) -> None:
    expected = _expectations(path)
    assert expected, f"{path.name} has no '# expect:' line"
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(str(path))
    lines = str(excinfo.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    for fragment in expected:
        assert any(fragment in line for line in lines), f"{fragment!r} not in:\n" + "\n".join(lines)
    assert len(lines) == len(expected), "\n".join(lines)
    assert len(excinfo.value.problems) == len(expected)


def test_corpus_covers_the_required_failures() -> None:
    stems = {path.stem for path in BAD.glob("*.yaml")}
    assert {"unknown_key", "bad_time", "dangling_disk", "duplicate_name", "bad_power_state", "yaml_syntax"} <= stems


def test_missing_file_and_unknown_builtin() -> None:
    with pytest.raises(ScenarioError, match=r"^/nonexistent/x\.yaml: <top level>: no such file$"):
        load_scenario("/nonexistent/x.yaml")
    with pytest.raises(ScenarioError, match=r"no built-in scenario of that name \(known: .*seed"):
        load_scenario("nosuchscenario")


def test_empty_file_is_an_empty_scenario(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    assert load_scenario(str(path)).describe().startswith("stages qa > uat > prod")


def test_binary_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(str(path))


SMALL = """\
stages: [qa, prod]
github:
  orgs: [acme]
  users:
    - login: v1-0-0-qa-gh-sa
      name: v1.0.0-qa-gh-sa
      memberships: [{org: acme}]
      impersonation_tokens: [{scopes: [repo], created_at: now - 1d, expires_at: now + 1d}]
  repos:
    - name: acme/app
      tags: [{name: v1.0.0-qa, at: now - 2d}]
      deployments: [{environment: production, ref: v1.0.0-qa, at: now - 1d, statuses: [{state: success, at: now}]}]
azure:
  subscriptions:
    - id: 11111111-1111-4111-8111-111111111111
      resource_groups:
        - name: rg
          disks: [{name: os1, size_gb: 30}, {name: d1, size_gb: 10}]
          nics: [{name: nic1, public_ip: pip1, nsg: nsg1}]
          public_ips: [{name: pip1}]
          nsgs: [{name: nsg1}]
          vms: [{name: vm1, power_state: stopped, os_disk: {disk: os1}, nics: [{nic: nic1}]}]
          registries: [{name: qaregistry, kind: standard, stage: qa, tokens: [{name: v1-0-0-qa-acr-sa}]}]
storage:
  containers: [{name: scratch, blobs: [{name: a.txt, size: 3, tags: {k: v}}]}]
holds: [{version: v1.0.0, by: m, reason: r, placed_at: now, until: now + 1d}]
"""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mangled_files_fail_with_a_scenario_error_only(data: st.DataObject) -> None:
    lines = SMALL.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        operation = data.draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "garble", "swap"]))
        if operation == "delete":
            del lines[index]
        elif operation == "duplicate":
            lines.insert(index, lines[index])
        elif operation == "indent":
            lines[index] = "  " + lines[index]
        elif operation == "dedent":
            lines[index] = lines[index][2:]
        elif operation == "swap":
            other = data.draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        else:
            position = data.draw(st.integers(0, len(lines[index])))
            junk = data.draw(st.text(alphabet=":-[]{}#&*!|>'\"%@` 0x\t", min_size=1, max_size=3))
            lines[index] = lines[index][:position] + junk + lines[index][position:]
        if not lines:
            break
    try:
        parse_scenario("\n".join(lines), "mangled.yaml")
    except ScenarioError as exc:
        assert str(exc).startswith("mangled.yaml: ")


# --------------------------------------------------------------------------------------------------
# Seeding the real ARM and GitHub stores


@dataclass
class Seeded:
    summary: SeedSummary
    arm: ArmStore
    github: GithubStore

    def arm_doc(self, resource_id: str) -> dict[str, Any]:
        doc = self.arm.get(resource_id)
        assert doc is not None, resource_id
        return doc


@pytest.fixture(scope="module")
def seeded(seed: Scenario) -> Seeded:
    clock = SandboxClock(NOW)
    arm, github = ArmStore(clock), GithubStore()
    summary = seed_all(seed, clock=clock, arm_store=arm, github_store=github, blob_connection_string=None)
    return Seeded(summary, arm, github)


def test_seed_counts(seeded: Seeded) -> None:
    assert seeded.summary.counts == {
        "subscriptions": 2,
        "resource_groups": 6,
        "nsgs": 7,
        "public_ips": 7,
        "disks": 18,
        "nics": 10,
        "vms": 6,
        "storage_accounts": 2,
        "registries": 6,
        "scope_maps": 18,
        "acr_tokens": 18,
        "orgs": 1,
        "users": 11,
        "memberships": 11,
        "repos": 1,
        "tags": 9,
        "releases": 2,
        "deployments": 4,
        "deployment_statuses": 8,
        "impersonation_tokens": 5,
        "ssh_keys": 1,
        "pat_grants": 2,
        "github_apps": 1,
        "app_installations": 1,
    }
    assert seeded.summary.skipped == ["storage"]
    assert (
        len(seeded.arm.list())
        == sum(
            seeded.summary[k]
            for k in ("nsgs", "public_ips", "disks", "nics", "vms", "storage_accounts", "registries", "scope_maps")
        )
        + seeded.summary["acr_tokens"]
    )
    assert "skipped: storage" in str(seeded.summary)


def test_deallocated_vm_and_its_disks(seeded: Seeded) -> None:
    rg = f"{NONPROD}/rg-release-uat/providers"
    vm = seeded.arm_doc(f"{rg}/Microsoft.Compute/virtualMachines/vm-v001-uat-app")
    assert vm["tags"] == {"release-version": "v0.0.1", "release-stage": "uat"}
    props = vm["properties"]
    assert props["timeCreated"] == arm_time(NOW - timedelta(days=3))
    assert [s["code"] for s in props["instanceView"]["statuses"]] == [
        "ProvisioningState/succeeded",
        "PowerState/deallocated",
    ]
    storage = props["storageProfile"]
    assert storage["osDisk"]["deleteOption"] == "Detach"
    assert (
        storage["osDisk"]["managedDisk"]["id"].lower() == f"{rg}/Microsoft.Compute/disks/vm-v001-uat-app-osdisk".lower()
    )
    assert [(d["lun"], d["name"], d["deleteOption"]) for d in storage["dataDisks"]] == [
        (0, "vm-v001-uat-app-data0", "Delete"),
        (1, "vm-v001-uat-app-data1", "Detach"),
    ]
    assert [(n["id"].rsplit("/", 1)[1], n["properties"]) for n in props["networkProfile"]["networkInterfaces"]] == [
        ("nic-v001-uat-app", {"primary": True, "deleteOption": "Delete"}),
        ("nic-v001-uat-app-mgmt", {"primary": False, "deleteOption": "Detach"}),
    ]
    for name in ("vm-v001-uat-app-osdisk", "vm-v001-uat-app-data0", "vm-v001-uat-app-data1"):
        disk = seeded.arm_doc(f"{rg}/Microsoft.Compute/disks/{name}")
        assert disk["properties"]["diskState"] == "Reserved"
        assert disk["managedBy"].lower() == vm["id"].lower()
        assert "/resourceGroups/RG-RELEASE-UAT/" in disk["managedBy"]  # ARM's upper-case quirk
    os_disk = seeded.arm_doc(f"{rg}/Microsoft.Compute/disks/vm-v001-uat-app-osdisk")["properties"]
    assert os_disk["osType"] == "Linux"
    assert os_disk["creationData"]["createOption"] == "FromImage"


def test_running_and_stopped_vms(seeded: Seeded) -> None:
    qa = f"{NONPROD}/rg-release-qa/providers/Microsoft.Compute"
    assert seeded.arm_doc(f"{qa}/disks/vm-v001-qa-build-osdisk")["properties"]["diskState"] == "Attached"
    shared = f"{NONPROD}/rg-platform-shared/providers/Microsoft.Compute"
    stopped = seeded.arm_doc(f"{shared}/virtualMachines/vm-legacy-stopped")["properties"]["instanceView"]["statuses"]
    assert stopped[1]["code"] == "PowerState/stopped"
    assert stopped[0]["time"] == arm_time(NOW - timedelta(days=20))
    assert seeded.arm_doc(f"{shared}/disks/vm-legacy-stopped-osdisk")["properties"]["diskState"] == "Attached"


def test_orphan_and_excluded_disks(seeded: Seeded) -> None:
    shared = f"{NONPROD}/rg-platform-shared/providers/Microsoft.Compute/disks"
    orphan = seeded.arm_doc(f"{shared}/disk-legacy-export-01")
    assert "managedBy" not in orphan
    assert "tags" not in orphan
    assert orphan["properties"]["diskState"] == "Unattached"
    assert orphan["properties"]["timeCreated"] == arm_time(NOW - timedelta(days=90))
    assert orphan["properties"]["creationData"] == {"createOption": "Empty"}
    asr = seeded.arm_doc(f"{shared}/asrseeddisk-vmlegacy01-osdisk-5c1e2a0f")
    assert "ASR-ReplicaDisk" in asr["tags"]
    assert asr["properties"]["creationData"]["createOption"] == "Copy"
    assert asr["properties"]["creationData"]["sourceResourceId"].endswith("/disks/vm-legacy-01-osdisk")
    pvc = seeded.arm_doc(
        "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/MC_rg-aks_aks-platform_eastus"
        "/providers/Microsoft.Compute/disks/pvc-3f2b9c1e-7d4a-4e8b-9a61-2c5d8e7f1a90"
    )
    assert pvc["tags"]["kubernetes.io-created-for-pvc-namespace"] == "platform"
    assert pvc["properties"]["diskState"] == "Unattached"
    held = seeded.arm_doc(f"{shared}/disk-forensics-evidence-01")
    assert held["tags"]["custodian-hold"].startswith("INC-4711")
    assert seeded.arm_doc(f"{shared}/disk-export-in-progress")["properties"]["diskState"] == "ActiveSAS"


def test_network_back_references(seeded: Seeded) -> None:
    qa = f"{NONPROD}/rg-release-qa/providers/Microsoft.Network"
    nic = seeded.arm_doc(f"{qa}/networkInterfaces/nic-v001-qa-build")
    pip = seeded.arm_doc(f"{qa}/publicIPAddresses/pip-v001-qa-build")
    nsg = seeded.arm_doc(f"{qa}/networkSecurityGroups/nsg-v001-qa")
    ipconfig = nic["properties"]["ipConfigurations"][0]
    assert ipconfig["properties"]["publicIPAddress"]["id"] == pip["id"]
    assert pip["properties"]["ipConfiguration"]["id"] == ipconfig["id"]
    assert nic["properties"]["virtualMachine"]["id"].endswith("/virtualMachines/vm-v001-qa-build")
    assert nic["properties"]["networkSecurityGroup"]["id"] == nsg["id"]
    assert nsg["properties"]["networkInterfaces"] == [{"id": nic["id"]}]
    assert "subnets" not in nsg["properties"]

    shared = f"{NONPROD}/rg-platform-shared/providers/Microsoft.Network"
    orphan_nic = seeded.arm_doc(f"{shared}/networkInterfaces/nic-orphan-01")["properties"]
    assert "virtualMachine" not in orphan_nic
    assert "privateEndpoint" not in orphan_nic
    pe_nic = seeded.arm_doc(f"{shared}/networkInterfaces/pe-stplatform-blob.nic.7a1c4e2b-91d0-4c55-8f3e-0b6d2a9c7e11")
    assert pe_nic["properties"]["privateEndpoint"]["id"].endswith("/privateEndpoints/pe-stplatform-blob")
    assert pe_nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"].endswith(
        "/virtualNetworks/vnet-platform/subnets/snet-endpoints"
    )
    hosted = seeded.arm_doc(f"{shared}/networkInterfaces/nic-sqlmi-hosted")["properties"]
    assert hosted["hostedWorkloads"][0].endswith("/managedInstances/sqlmi-platform")
    orphan_pip = seeded.arm_doc(f"{shared}/publicIPAddresses/pip-orphan-01")["properties"]
    assert "ipConfiguration" not in orphan_pip
    assert orphan_pip["publicIPAllocationMethod"] == "Static"
    nat_pip = seeded.arm_doc(f"{shared}/publicIPAddresses/pip-natgw-egress")["properties"]
    assert nat_pip["natGateway"]["id"].endswith("/natGateways/natgw-platform-egress")
    orphan_nsg = seeded.arm_doc(f"{shared}/networkSecurityGroups/nsg-orphan-01")["properties"]
    assert "networkInterfaces" not in orphan_nsg
    assert "subnets" not in orphan_nsg
    assert len(orphan_nsg["defaultSecurityRules"]) == 6
    subnet_nsg = seeded.arm_doc(f"{shared}/networkSecurityGroups/nsg-platform-apps")["properties"]
    assert subnet_nsg["subnets"][0]["id"].endswith("/virtualNetworks/vnet-platform/subnets/snet-apps")


def test_acr_tokens_exist_in_both_registries_of_their_stage(seeded: Seeded) -> None:
    tokens = seeded.arm.list("Microsoft.ContainerRegistry/registries/tokens")
    by_registry: dict[str, set[str]] = {}
    for token in tokens:
        registry = token["id"].split("/registries/")[1].split("/")[0]
        by_registry.setdefault(registry, set()).add(token["name"])
    for stage in ("qa", "uat", "prod"):
        secure = {name for name in by_registry[f"{stage}secureregistry"] if name.endswith("-acr-sa")}
        standard = {name for name in by_registry[f"{stage}registry"] if name.endswith("-acr-sa")}
        assert secure - {"v0-0-x-qa-acr-sa"} == standard - {"v0-0-x-qa-acr-sa"}
        assert all(f"-{stage}-acr-sa" in name for name in secure)

    base = f"{NONPROD}/rg-release-registries/providers/Microsoft.ContainerRegistry/registries"
    token = seeded.arm_doc(f"{base}/qasecureregistry/tokens/v0-0-2-qa-acr-sa")
    props = token["properties"]
    assert props["status"] == "enabled"
    assert props["scopeMapId"] == f"{base}/qasecureregistry/scopeMaps/_repositories_push"
    assert seeded.arm.get(props["scopeMapId"]) is not None
    assert props["creationDate"].startswith((NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    [password] = props["credentials"]["passwords"]
    assert password["name"] == "password1"
    assert password["expiry"].startswith((NOW + timedelta(days=6)).strftime("%Y-%m-%dT%H:%M:%S"))
    assert len(password["value"]) == 52
    revoked = seeded.arm_doc(f"{base}/qaregistry/tokens/v0-0-2-qa-acr-sa")["properties"]
    assert revoked["status"] == "disabled"
    assert revoked["credentials"]["passwords"] == []
    registry = seeded.arm_doc(f"{base}/prodsecureregistry")
    assert registry["tags"] == {"registry-stage": "prod", "registry-kind": "secure"}
    assert registry["properties"]["loginServer"] == "prodsecureregistry.azurecr.io"


def test_prod_resources_live_in_the_prod_subscription(seeded: Seeded) -> None:
    prod = seeded.arm.list(subscription_id="22222222-2222-4222-8222-222222222222")
    assert prod
    assert all(doc["tags"] == {"release-version": "v0.0.1", "release-stage": "prod"} for doc in prod)
    assert all(doc["id"].startswith(f"{PROD}/rg-release-prod/") for doc in prod)


def test_github_objects(seeded: Seeded) -> None:
    gh = seeded.github
    admin = gh.user("octo-admin")
    assert admin is not None
    assert admin["site_admin"] is True
    user = gh.user("v0-0-1-qa-gh-sa")
    assert user is not None
    assert user["name"] == "v0.0.1-qa-gh-sa"
    assert user["suspended_at"] == (NOW - timedelta(days=2, hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert gh.members("acme")["octo-admin"] == "admin"
    assert len(gh.members("acme")) == 11
    [token] = gh.impersonation_tokens("v0-0-3-qa-gh-sa")
    assert token["expires_at"] is None
    grants = {g["token_name"]: g for g in gh.pat_grants("acme")}
    assert grants["v0.0.1-prod-release"]["owner"] == "v0-0-1-prod-gh-sa"
    assert len(gh.ssh_keys("v0-0-1-uat-gh-sa")) == 1

    repo = gh.find_repo("acme", "product")
    assert repo is not None
    assert repo.commits[repo.tags["v0.0.1"].sha].date == NOW - timedelta(hours=33)
    production = sorted(
        (d for d in repo.deployments.values() if d.ref == "v0.0.1" and d.environment == "production"),
        key=lambda d: d.id,
    )
    assert [[s.state for s in d.statuses] for d in production] == [
        ["in_progress", "failure"],
        ["queued", "in_progress", "success"],
    ]
    assert production[0].sha == repo.tags["v0.0.1"].sha
    assert production[1].statuses[-1].created_at == NOW - timedelta(hours=30)
    releases = {r.tag_name: r for r in repo.releases.values()}
    assert releases["v0.0.1"].published_at == NOW - timedelta(hours=31)


def test_seeding_is_repeatable_and_partial(seed: Scenario) -> None:
    first, second = ArmStore(SandboxClock(NOW)), ArmStore(SandboxClock(NOW))
    clock = SandboxClock(NOW)
    seed_all(seed, clock=clock, arm_store=first, github_store=None, blob_connection_string=None)
    summary = seed_all(seed, clock=clock, arm_store=second, github_store=None, blob_connection_string=None)
    assert first.list() == second.list()
    assert summary.skipped == ["github", "storage"]
    assert summary["users"] == 0


def test_small_scenario_shapes() -> None:
    scenario = parse_scenario(SMALL, "small.yaml")
    clock = SandboxClock(NOW)
    arm = ArmStore(clock)
    summary = seed_all(scenario, clock=clock, arm_store=arm, github_store=GithubStore(), blob_connection_string=None)
    assert summary["vms"] == 1
    assert summary["acr_tokens"] == 1
    rg = "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/rg/providers"
    disk = arm.get(f"{rg}/Microsoft.Compute/disks/os1")
    assert disk is not None
    assert disk["properties"]["diskState"] == "Attached"  # stopped, not deallocated
    assert "managedBy" not in (arm.get(f"{rg}/Microsoft.Compute/disks/d1") or {"managedBy": "?"})
    token = arm.get(f"{rg}/Microsoft.ContainerRegistry/registries/qaregistry/tokens/v1-0-0-qa-acr-sa")
    assert token is not None
    assert token["properties"]["scopeMapId"].endswith("/scopeMaps/_repositories_pull")
    assert token["properties"]["credentials"]["passwords"] == []


# --------------------------------------------------------------------------------------------------
# The story, checked by the lifecycle rules on accounts collected from the seeded stores


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text[:19] + "+00:00")


def _inventory(seeded: Seeded, namer: AccountNamer) -> Inventory:
    repo = seeded.github.find_repo("acme", "product")
    assert repo is not None
    starts = []
    for tag in repo.tags.values():
        match = namer.parse_tag(tag.name)
        if match is not None:
            starts.append(StageStart(match.version, match.stage, repo.commits[tag.sha].date, f"tag {tag.name}"))
    deployments = []
    for deployment in repo.deployments.values():
        match = namer.parse_tag(deployment.ref)
        if deployment.environment == "production" and match is not None:
            statuses = tuple((s.state, s.created_at) for s in deployment.statuses)
            deployments.append(
                DeploymentFact(match.version, deployment.id, deployment.environment, deployment.created_at, statuses)
            )
    accounts = []
    for user in seeded.github.users.values():
        if not namer.looks_like_service_account(user.login):
            continue
        credentials = [
            Credential(
                CredentialKind.IMPERSONATION_TOKEN,
                str(t["id"]),
                str(t["id"]),
                _parse_time(t["created_at"]),
                _parse_time(t["expires_at"]) if t["expires_at"] else None,
            )
            for t in seeded.github.impersonation_tokens(user.login)
        ]
        credentials += [
            Credential(
                CredentialKind.PAT_GRANT,
                str(g["id"]),
                g["token_name"],
                _parse_time(g["access_granted_at"]),
                _parse_time(g["token_expires_at"]) if g["token_expires_at"] else None,
            )
            for g in seeded.github.pat_grants("acme")
            if g["owner"] == user.login
        ]
        credentials += [
            Credential(CredentialKind.SSH_KEY, str(k["id"]), k["title"], _parse_time(k["created_at"]), None)
            for k in seeded.github.ssh_keys(user.login)
        ]
        accounts.append(
            ServiceAccount(
                Provider.GITHUB,
                AccountKind.GH,
                user.login,
                "github:acme",
                Scope.github("acme", enterprise=True),
                user.suspended_at is None,
                tuple(credentials),
                display_name=user.name,
            )
        )
    for token in seeded.arm.list("Microsoft.ContainerRegistry/registries/tokens"):
        if not namer.looks_like_service_account(token["name"]):
            continue
        registry = token["id"].rsplit("/tokens/", 1)[0]
        credentials = [
            Credential(
                CredentialKind.ACR_PASSWORD,
                p["name"],
                p["name"],
                _parse_time(p["creationTime"]),
                _parse_time(p["expiry"]) if "expiry" in p else None,
            )
            for p in token["properties"]["credentials"]["passwords"]
        ]
        accounts.append(
            ServiceAccount(
                Provider.AZURE,
                AccountKind.ACR,
                token["name"],
                registry,
                Scope.subscription(token["id"].split("/")[2]),
                token["properties"]["status"] == "enabled",
                tuple(credentials),
                resource_id=token["id"],
            )
        )
    timeline = ReleaseTimeline(namer.stages, tuple(starts), tuple(deployments))
    return Inventory(NOW, timeline, tuple(accounts))


STORY = [
    # (account: login, or registry/token), rule, status
    ("v0-0-0-uat-gh-sa", "L3", Status.HELD),
    ("v0-0-0-prod-gh-sa", "L2", Status.PASS),
    ("v0-0-0-prod-gh-sa", "L3", Status.HELD),
    ("prodsecureregistry/v0-0-0-prod-acr-sa", "L3", Status.HELD),
    ("v0-0-1-qa-gh-sa", "L1", Status.PASS),
    ("v0-0-1-qa-gh-sa", "L3", Status.FAIL),
    ("qasecureregistry/v0-0-1-qa-acr-sa", "L1", Status.PASS),
    ("qaregistry/v0-0-1-qa-acr-sa", "L3", Status.FAIL),
    ("v0-0-1-uat-gh-sa", "L1", Status.FAIL),  # its hold expired
    ("v0-0-1-uat-gh-sa", "L3", Status.FAIL),
    ("v0-0-1-uat-gh-sa", "H1", Status.PASS),  # its token lives 7 days; H1 does not judge SSH keys
    ("uatsecureregistry/v0-0-1-uat-acr-sa", "L1", Status.FAIL),
    ("uatregistry/v0-0-1-uat-acr-sa", "L1", Status.FAIL),  # disabled, but the password works
    ("v0-0-1-prod-gh-sa", "L2", Status.FAIL),
    ("v0-0-1-prod-gh-sa", "L3", Status.FAIL),
    ("prodsecureregistry/v0-0-1-prod-acr-sa", "L2", Status.FAIL),
    ("prodregistry/v0-0-1-prod-acr-sa", "L3", Status.FAIL),
    ("v0-0-2-qa-gh-sa", "L1", Status.PASS),
    ("qasecureregistry/v0-0-2-qa-acr-sa", "L1", Status.FAIL),
    ("qaregistry/v0-0-2-qa-acr-sa", "L1", Status.PASS),
    ("v0-0-2-uat-gh-sa", "L1", Status.PASS),
    ("v0-0-2-uat-gh-sa", "L3", Status.PASS),
    ("v0-0-2-uat-gh-sa", "H1", Status.PASS),
    ("uatregistry/v0-0-2-uat-acr-sa", "L1", Status.PASS),
    ("v0-0-3-qa-gh-sa", "L1", Status.PASS),
    ("v0-0-3-qa-gh-sa", "H1", Status.WARN),  # the token never expires
    ("qasecureregistry/v0-0-3-qa-acr-sa", "H1", Status.WARN),  # a password for a year
    ("qaregistry/v0-0-3-qa-acr-sa", "H1", Status.PASS),
    ("prodsecureregistry/v0-0-3-prod-acr-sa", "N2", Status.WARN),
    ("prodregistry/v0-0-3-prod-acr-sa", "N2", Status.WARN),
    ("release-gh-sa", "N1", Status.WARN),
    ("v0-9-9-qa-gh-sa", "N1", Status.WARN),
    ("qaregistry/v0-0-x-qa-acr-sa", "N1", Status.WARN),
]


@pytest.fixture(scope="module")
def story(seed: Scenario, seeded: Seeded) -> dict[tuple[str, str], Status]:
    namer = AccountNamer(tuple(seed.stages))
    holds = [
        Hold(
            f"hold-{i}",
            HoldTarget.VERSION if h.version else HoldTarget.ACCOUNT,
            h.version or h.account or "",
            h.reason,
            h.by,
            h.placed_at,
            h.until,
        )
        for i, h in enumerate(resolved_holds(seed, NOW))
    ]
    inventory = _inventory(seeded, namer)
    verdicts = evaluate_accounts(inventory, NOW, LifecycleSettings(namer)) + expired_holds(holds, NOW)
    findings = settled(verdicts, inventory, NOW, holds)
    out: dict[tuple[str, str], Status] = {}
    for finding in findings:
        subject = finding.subject
        key = subject.provider_name
        if subject.resource_id and "/registries/" in subject.resource_id:
            key = subject.resource_id.split("/registries/")[1].replace("/tokens/", "/")
        out[(key, finding.rule)] = finding.status
    return out


@pytest.mark.parametrize(("account", "rule", "status"), STORY, ids=lambda v: str(v))
def test_seed_story_under_the_lifecycle_rules(
    story: dict[tuple[str, str], Status], account: str, rule: str, status: Status
) -> None:
    assert story.get((account, rule)) == status


def test_seed_story_ignores_humans_and_foreign_tokens(story: dict[tuple[str, str], Status]) -> None:
    names = {key for key, _ in story}
    assert "octo-admin" not in names
    assert "qaregistry/ci-pull-token" not in names
    assert story[("hold-1", "HOLD")] == Status.WARN  # the expired hold is reported


# --------------------------------------------------------------------------------------------------
# Azurite


@pytest.fixture(scope="module")
def azurite_connection() -> Iterator[str]:
    from custodian.sandbox.azurite import start_azurite

    with start_azurite() as running:
        yield running.connection_string


@pytest.mark.azurite
def test_seed_blobs_with_index_tags(seed: Scenario, azurite_connection: str) -> None:
    from azure.storage.blob import BlobServiceClient

    clock = SandboxClock(NOW)
    summary = seed_all(seed, clock=clock, arm_store=None, github_store=None, blob_connection_string=azurite_connection)
    assert (summary["containers"], summary["blobs"]) == (2, 11)
    again = seed_all(seed, clock=clock, arm_store=None, github_store=None, blob_connection_string=azurite_connection)
    assert again["blobs"] == 11  # re-seeding overwrites

    service = BlobServiceClient.from_connection_string(azurite_connection, retry_total=0)
    found = {
        (blob.container_name, blob.name)
        for blob in service.find_blobs_by_tags("\"release-version\"='v0.0.1' AND \"release-stage\"='qa'")
    }
    assert found == {
        ("release-artifacts", "v0.0.1/qa/test-report.xml"),
        ("release-artifacts", "v0.0.1/qa/coverage.html"),
        ("ci-scratch", "build-cache/v0.0.1-qa.tar"),
    }
    uat = {blob.name for blob in service.find_blobs_by_tags("\"release-stage\"='uat'")}
    assert uat == {"v0.0.1/uat/smoke-results.json", "v0.0.2/uat/smoke-results.json"}
    held = list(service.find_blobs_by_tags("\"custodian-hold\"='INC-4711'"))
    assert [b.name for b in held] == ["tmp/run-4413/core.dump"]

    scratch = service.get_container_client("ci-scratch")
    assert scratch.get_container_properties().metadata == {"purpose": "ci_scratch"}
    blobs = {b.name: b for b in scratch.list_blobs(include=["tags", "metadata"])}
    assert blobs["build-cache/v0.0.1-qa.tar"].size == 65536
    assert blobs["build-cache/v0.0.1-qa.tar"].tags == {"release-version": "v0.0.1", "release-stage": "qa"}
    assert blobs["tmp/run-4411/build.log"].metadata == {"pipeline": "release", "run": "4411"}
    artifacts = service.get_container_client("release-artifacts")
    smoke = artifacts.get_blob_client("v0.0.1/uat/smoke-results.json")
    assert smoke.download_blob().readall() == b'{"passed": 42, "failed": 0}'
    assert smoke.get_blob_properties().content_settings.content_type == "application/json"
