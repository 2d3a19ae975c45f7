"""The reaper's blob adapter (`providers.azure.blobs.BlobAccount`) against Azurite: what each read costs.

One listing call per container per 5,000 blobs (the service's maximum page size), tags inline; a
re-read is one call and tells a blob from its namesakes (`name/child`, `name-2`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient

from custodian.providers.azure.blobs import MAX_RESULTS_PER_PAGE, BlobAccount, BlobSettings
from custodian.providers.wire import CallCounter
from custodian.sandbox.azurite import Azurite, start_azurite

pytestmark = pytest.mark.azurite


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with start_azurite() as running:
        yield running


def _account(azurite: Azurite, calls: list[tuple[str, str]], page: int = MAX_RESULTS_PER_PAGE) -> BlobAccount:
    settings = BlobSettings(
        retry_total=0, results_per_page=page, request_hook=lambda method, url: calls.append((method, url))
    )
    return BlobAccount.from_connection_string(
        "devstoreaccount1", azurite.connection_string, settings, CallCounter(), None
    )


def test_a_container_is_listed_at_the_service_maximum_with_tags_inline(azurite: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container("many")
    for i in range(120):
        tags = {"Release-Version": "V0.0.1", "release-stage": "QA"} if i % 10 == 0 else None
        container.upload_blob(f"b/{i:04d}", b"x", tags=tags)
    calls: list[tuple[str, str]] = []
    with _account(azurite, calls) as account:
        pages = list(account.list_pages("many"))
    assert BlobSettings().results_per_page == 5000
    assert len(calls) == 1 and "maxresults=5000" in calls[0][1] and "include=tags" in calls[0][1]
    blobs = [b for page in pages for b in page]
    assert len(blobs) == 120
    tagged = [b for b in blobs if b.tags.value("release-version") is not None]
    assert len(tagged) == 12 and tagged[0].tags.value("RELEASE-STAGE") == "QA"  # keys in any case
    calls.clear()
    with _account(azurite, calls, page=50) as account:
        assert sum(len(p) for p in account.list_pages("many")) == 120
    assert len(calls) == 3  # pages are followed


def test_a_re_read_is_one_call_and_never_mistakes_a_namesake(azurite: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container("reread")
    container.upload_blob("logs/a", b"abc", tags={"custodian-reap": "2026-01-01T00:00:00Z O6"})
    container.upload_blob("logs/b/child", b"x")  # `logs/b` itself does not exist
    container.upload_blob("logs/c-2", b"x")  # nor does `logs/c`
    calls: list[tuple[str, str]] = []
    with _account(azurite, calls) as account:
        found = account.read("reread", "logs/a")
        assert len(calls) == 1
        assert found is not None and found.size == 3 and found.etag
        assert found.tags.value("Custodian-Reap") == "2026-01-01T00:00:00Z O6"
        assert found.url.endswith("/reread/logs/a")
        assert found.etag == container.get_blob_client("logs/a").get_blob_properties().etag
        assert account.read("reread", "logs/b") is None
        assert account.read("reread", "logs/c") is None
        assert account.read("reread", "logs/zzz") is None
        assert account.read("no-such-container", "logs/a") is None
    assert len(calls) == 5


def test_the_re_read_etag_holds_a_delete_to_the_state_that_was_read(azurite: Azurite) -> None:
    from azure.core.exceptions import ResourceModifiedError

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container("conditional")
    container.upload_blob("x", b"1")
    container.upload_blob("y", b"1")
    settings = BlobSettings(retry_total=0, read_only=False)
    with BlobAccount.from_connection_string(
        "devstoreaccount1", azurite.connection_string, settings, CallCounter(), None
    ) as account:
        stale = account.read("conditional", "x")
        container.upload_blob("x", b"2", overwrite=True)  # changed after the re-read
        assert stale is not None and stale.etag and stale.etag.startswith('"')
        with pytest.raises(ResourceModifiedError):
            account.delete("conditional", "x", etag=stale.etag, tags_match=None)
        fresh = account.read("conditional", "y")
        assert fresh is not None
        account.delete("conditional", "y", etag=fresh.etag, tags_match=None)
        assert account.read("conditional", "y") is None and account.read("conditional", "x") is not None
