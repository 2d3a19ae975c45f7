"""azure-storage-blob (the real client) against Azurite started from the project's node_modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from custodian.sandbox.azurite import Azurite, AzuriteUnavailableError, find_azurite_blob, start_azurite

pytestmark = pytest.mark.azurite


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with start_azurite() as running:
        yield running


@pytest.fixture()
def service(azurite: Azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string, retry_total=0)


def test_index_tags_paging_and_find_by_tags(service: BlobServiceClient) -> None:
    container = service.create_container("release-artifacts")
    for i in range(7):
        stage = "qa" if i % 2 == 0 else "uat"
        container.upload_blob(
            f"build/{i:02d}.tar", b"x" * (i + 1), tags={"release-version": "v0.0.1", "release-stage": stage}
        )
    container.upload_blob("build/other.tar", b"y", tags={"release-version": "v0.0.2", "release-stage": "qa"})

    pages = list(container.list_blobs(name_starts_with="build/", include=["tags"], results_per_page=3).by_page())
    listed = [blob for page in pages for blob in page]
    assert len(pages) == 3  # 8 blobs over pages of 3: paging is followed
    assert len(listed) == 8
    assert listed[0].tags == {"release-version": "v0.0.1", "release-stage": "qa"}

    found = sorted(
        b.name for b in service.find_blobs_by_tags("\"release-version\"='v0.0.1' AND \"release-stage\"='qa'")
    )
    assert found == ["build/00.tar", "build/02.tar", "build/04.tar", "build/06.tar"]


def test_delete_with_snapshots_and_missing_blob(service: BlobServiceClient) -> None:
    container = service.create_container("scratch-delete")
    blob = container.upload_blob("a b.txt", b"data")
    blob.create_snapshot()
    with pytest.raises(ResourceExistsError) as conflict:
        container.delete_blob("a b.txt")
    assert conflict.value.error_code == "SnapshotsPresent"
    container.delete_blob("a b.txt", delete_snapshots="include")
    assert list(container.list_blobs(include=["snapshots"])) == []
    with pytest.raises(ResourceNotFoundError) as missing:
        container.delete_blob("a b.txt")
    assert missing.value.error_code == "BlobNotFound"


def test_missing_package_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AzuriteUnavailableError, match="npm ci"):
        find_azurite_blob([tmp_path])


def test_azurite_is_found_where_it_is_configured_or_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "tools" / "node_modules" / ".bin" / "azurite-blob"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert find_azurite_blob([tmp_path / "elsewhere"], {"RELEASE_CUSTODIAN_AZURITE": str(tmp_path / "tools")}) == tool
    assert find_azurite_blob([tmp_path / "elsewhere"], {"RELEASE_CUSTODIAN_AZURITE": str(tool)}) == tool
    with pytest.raises(AzuriteUnavailableError, match=r"RELEASE_CUSTODIAN_AZURITE=.*no azurite-blob there"):
        find_azurite_blob([tmp_path], {"RELEASE_CUSTODIAN_AZURITE": str(tmp_path / "nothing")})
    monkeypatch.setenv("PATH", str(tool.parent))
    assert find_azurite_blob([tmp_path / "elsewhere"], {}) == tool
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(AzuriteUnavailableError, match=r"--no-blobs"):
        find_azurite_blob([tmp_path / "elsewhere"], {})
