"""The installable package: a built wheel ships the policies, the price table, the report template and the
scenarios; installed in a fresh virtualenv, the CLI works outside the source tree, the demo included.

The fresh virtualenv borrows the test environment's dependencies (a `.pth` line naming its
site-packages: no download) but not its editable `custodian`: what runs is the wheel's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["COLUMNS"] = "200"
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)], ROOT)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = dist.glob("release_custodian-*.whl")
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    assert _run([sys.executable, "-m", "venv", str(venv)], ROOT).returncode == 0
    fresh_site = Path(
        _run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], ROOT
        ).stdout.strip()
    )
    (fresh_site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = _run([str(venv / "bin" / "pip"), "install", "--no-deps", "--no-index", "-q", str(wheel)], ROOT)
    assert install.returncode == 0, install.stderr[-2000:]
    return venv


def test_the_wheel_ships_what_runs_need(installed: Path) -> None:
    code = (
        "import importlib.resources as r, custodian;"
        "print(custodian.__file__);"
        "print(sorted(p.name for p in r.files('custodian').joinpath('policies').iterdir()));"
        "print(r.files('custodian.pricing').joinpath('prices.yaml').is_file());"
        "print(r.files('custodian.reports').joinpath('templates/report.html.j2').is_file())"
    )
    out = _run([str(installed / "bin" / "python"), "-c", code], installed).stdout.splitlines()
    assert str(installed) in out[0]  # the wheel's custodian, not the checkout's
    assert "o1-unattached-disks.yml" in out[1] and "inventory.yml" in out[1]
    assert out[2:] == ["True", "True"]


def test_the_cli_works_outside_the_source_tree(installed: Path, tmp_path: Path) -> None:
    cli = str(installed / "bin" / "release-custodian")
    assert "demo" in _run([cli, "--help"], tmp_path).stdout
    listing = _run([cli, "rules", "list", "--format", "markdown"], tmp_path)
    assert listing.returncode == 0 and "| O1 |" in listing.stdout
    config = tmp_path / "release-custodian.yaml"
    config.write_text(
        "github: {mode: enterprise-server, base_url: 'https://ghes.example.com/api/v3', org: acme,"
        " release_repos: [acme/product], token: {env: GITHUB_TOKEN}}\n"
        "azure: {subscriptions: [00000000-0000-0000-0000-000000000001]}\n"
        "reaper: {mark_grace: 24h}\n"
    )
    validated = _run([cli, "config", "validate", str(config)], tmp_path)
    assert validated.returncode == 0, validated.stderr


def test_the_demo_runs_from_an_empty_directory_without_blobs(installed: Path, tmp_path: Path) -> None:
    demo = _run([str(installed / "bin" / "release-custodian"), "demo", "--no-blobs", "--log-format", "json"], tmp_path)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    flat = " ".join(demo.stdout.split())
    assert "4. audit again" in flat and "nothing is failing" in flat.split("4. audit again")[1]
    assert (tmp_path / ".demo" / "reports").is_dir()


def _without_azurite(installed: Path) -> dict[str, str]:
    """An environment where no azurite-blob can be found: PATH of the fresh venv and the system only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "RELEASE_CUSTODIAN"))}
    env["PATH"] = os.pathsep.join([str(installed / "bin"), "/usr/bin", "/bin"])
    env["COLUMNS"] = "200"
    return env


def test_without_azurite_the_demo_says_how_to_install_it_or_skip_blobs(installed: Path, tmp_path: Path) -> None:
    if Path("/usr/bin/azurite-blob").exists():
        pytest.skip("azurite-blob is installed system-wide here")
    cli = str(installed / "bin" / "release-custodian")
    demo = subprocess.run(
        [cli, "demo"], cwd=tmp_path, env=_without_azurite(installed), capture_output=True, text=True, timeout=120
    )
    assert demo.returncode == 2, demo.stdout[-2000:] + demo.stderr[-2000:]
    said = " ".join(demo.stderr.split())
    assert "Azurite" in said and "npm install" in said and "--no-blobs" in said
    assert not (tmp_path / ".demo" / "reports").exists()  # nothing ran


def test_the_demo_finds_azurite_where_release_custodian_azurite_points(installed: Path, tmp_path: Path) -> None:
    azurite = ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not azurite.exists():
        pytest.skip("npm ci has not installed Azurite in this checkout")
    env = _without_azurite(installed) | {"RELEASE_CUSTODIAN_AZURITE": str(azurite)}
    env["PATH"] += os.pathsep + os.path.dirname(shutil.which("node") or "/usr/bin/node")
    demo = subprocess.run(
        [str(installed / "bin" / "release-custodian"), "demo", "--log-format", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    flat = " ".join(demo.stdout.split())
    assert "waste found 218.43 USD/month, reclaimed 218.43 USD/month" in flat
    assert "core.dump" in flat.split("held and untouched:")[1]  # the held blob: blobs were in the story
