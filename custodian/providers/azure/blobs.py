"""Azure Blob Storage data plane (azure-storage-blob) for the reaper: streamed listings with index
tags, re-reads, and the two mutations the reaper makes (set the mark tag, delete with snapshots).

- Every client is built with the read-only guard and the call counter of `clients.py` as extra
  pipeline policies (`_additional_pipeline_policies`: azure-storage-blob 12.30.3 builds its own
  pipeline and takes no `per_call_policies`). They sit after the retry policy, so the guard runs
  before each attempt is sent and every attempt is counted; an audit client raises
  `ReadOnlyViolation` before a mutating request leaves the process.
- Listings are generators of pages (`by_page()`): one page of `results_per_page` items (the
  service's maximum, 5,000, by default) is in memory at a time, whatever the size of the container.
  The caller decides what to keep. A re-read (`read`, just before acting) is one call too.
- Retries: azure-storage-blob's `ExponentialRetry` (408 and 5xx; Storage throttles with 503, never
  429), with its backoff configurable (`BlobSettings`): the default waits 15 s and more.
- Blobs are found by listing each container with their index tags (`include=["tags"]`), never by
  server-side tag queries: a listing sees every tag in any letter case, and Azurite's Find Blobs by
  Tags scans one page only (leftovers beyond it would go unseen).
- The one tag condition sent (a delete only while the mark still holds its judged value) is built
  by `tag_equals`: key in double quotes, value in single quotes, and anything outside the
  characters Azure allows in a tag (letters, digits, space and `+ - . / : = _`) refused, so a value
  can never break out of its quotes.

Imports `model` and the wire guards only; no SDK object leaves this module (`Blob`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceNotFoundError
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

from custodian.model import Blob, Scope, Tags
from custodian.providers.azure.clients import CallCountingPolicy, ReadOnlyGuardPolicy
from custodian.providers.paging import azure_pages
from custodian.providers.wire import CallCounter

BLOB_PROVIDER = "azure-blob"  # the provider name API calls are counted under
MAX_RESULTS_PER_PAGE = 5000  # List Blobs' `maxresults` ceiling: one call per 5,000 blobs

_TAG_TEXT = re.compile(r"^[A-Za-z0-9 +\-./:=_]*$")
_SECRET_IN_TEXT = re.compile(r"((?:[?&]sig=)|(?:AccountKey=)|(?:SharedAccessSignature=))[^&;\s'\"]+", re.IGNORECASE)


class TagQueryError(ValueError):
    """A tag key or value that Azure does not allow (and that could break the query's quoting)."""


def redact(text: str) -> str:
    """Remove SAS signatures and account keys from a message (error texts may echo a URL)."""
    return _SECRET_IN_TEXT.sub(r"\1REDACTED", text)


def _checked(kind: str, text: str, min_len: int, max_len: int) -> str:
    if not min_len <= len(text) <= max_len:
        raise TagQueryError(f"blob index tag {kind} {text!r} must be {min_len} to {max_len} characters")
    if not _TAG_TEXT.fullmatch(text):
        raise TagQueryError(
            f"blob index tag {kind} {text!r} has a character Azure does not allow in tags "
            "(allowed: letters, digits, space and + - . / : = _)"
        )
    return text


def tag_equals(key: str, value: str) -> str:
    """`"key" = 'value'`, validated (1-128 character key, 0-256 character value, allowed characters)."""
    return f"\"{_checked('key', key, 1, 128)}\" = '{_checked('value', value, 0, 256)}'"


def clean_url(url: str) -> str:
    """A blob URL without query (SAS) or user info: safe to report."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _quoted(etag: str | None) -> str | None:
    """An ETag as the `ETag` header spells it (quoted): List Blobs' `<Etag>` element comes without quotes."""
    if not etag or etag.startswith(('"', 'W/"')):
        return etag
    return f'"{etag}"'


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@dataclass(frozen=True)
class BlobSettings:
    """How blob clients behave: read-only guard, retries, page size, API version, a request hook."""

    read_only: bool = True
    retry_total: int = 3
    initial_backoff_s: int = 15
    increment_base: int = 3
    jitter_s: int = 3
    results_per_page: int = MAX_RESULTS_PER_PAGE
    api_version: str | None = None  # e.g. "2025-11-05" for an emulator that rejects the SDK default
    request_hook: Callable[[str, str], None] | None = None  # (method, url) of every attempt, for tests
    connection_timeout_s: float = 10.0  # per call (azure-core's default is 300)
    read_timeout_s: float = 60.0


class _RequestHookPolicy(SansIOHTTPPolicy[Any, Any]):
    def __init__(self, hook: Callable[[str, str], None]) -> None:
        self._hook = hook

    def on_request(self, request: PipelineRequest[Any]) -> None:
        self._hook(request.http_request.method, request.http_request.url)


def _client_kwargs(settings: BlobSettings, counter: CallCounter) -> dict[str, Any]:
    policies: list[SansIOHTTPPolicy[Any, Any]] = [
        ReadOnlyGuardPolicy(settings.read_only),
        CallCountingPolicy(counter, BLOB_PROVIDER),
    ]
    if settings.request_hook is not None:
        policies.append(_RequestHookPolicy(settings.request_hook))
    kwargs: dict[str, Any] = {
        "_additional_pipeline_policies": policies,
        "retry_policy": ExponentialRetry(
            initial_backoff=settings.initial_backoff_s,
            increment_base=settings.increment_base,
            retry_total=settings.retry_total,
            random_jitter_range=settings.jitter_s,
        ),
    }
    kwargs["connection_timeout"] = settings.connection_timeout_s
    kwargs["read_timeout"] = settings.read_timeout_s
    if settings.api_version:
        kwargs["api_version"] = settings.api_version
    return kwargs


class BlobAccount:
    """One storage account's blob service, read-only unless `settings.read_only` is False."""

    def __init__(self, name: str, service: BlobServiceClient, settings: BlobSettings, scope: Scope | None) -> None:
        self.name = name
        self.scope = scope  # the storage account's subscription, when known
        self._service = service
        self._settings = settings

    @classmethod
    def from_connection_string(
        cls, name: str, connection_string: str, settings: BlobSettings, counter: CallCounter, scope: Scope | None
    ) -> BlobAccount:
        service = BlobServiceClient.from_connection_string(connection_string, **_client_kwargs(settings, counter))
        return cls(name, service, settings, scope)

    @classmethod
    def from_account_url(
        cls,
        name: str,
        account_url: str,
        credential: TokenCredential,
        settings: BlobSettings,
        counter: CallCounter,
        scope: Scope | None,
    ) -> BlobAccount:
        service = BlobServiceClient(account_url, credential=credential, **_client_kwargs(settings, counter))
        return cls(name, service, settings, scope)

    @property
    def url(self) -> str:
        return clean_url(self._service.url)

    def _container(self, container: str) -> ContainerClient:
        return self._service.get_container_client(container)

    # -- reads ------------------------------------------------------------------------------------
    def container_names(self) -> Iterator[str]:
        """Every container of the account (paged)."""
        pages = self._service.list_containers(results_per_page=self._settings.results_per_page).by_page()
        for page in azure_pages(pages, f"containers of {self.name}"):
            for container in page:
                yield str(container.name)

    def _blob(self, container: str, name: str, url: str, props: Any, tags: Mapping[str, str] | None) -> Blob:
        return Blob(
            account=self.name,
            container=container,
            name=name,
            url=url,
            size=int(props.size or 0),
            tier=str(props.blob_tier) if props.blob_tier else None,
            last_modified=_utc(props.last_modified),
            etag=_quoted(props.etag),
            scope=self.scope,
            tags=Tags(dict(tags or {})),
        )

    def list_pages(self, container: str) -> Iterator[list[Blob]]:
        """Pages of the container's base blobs, with their index tags (one page in memory at a time)."""
        client = self._container(container)
        base = clean_url(client.url)
        pages = client.list_blobs(include=["tags"], results_per_page=self._settings.results_per_page).by_page()
        for page in azure_pages(pages, f"blobs of {self.name}/{container}"):
            yield [self._blob(container, b.name, f"{base}/{quote(b.name, safe='~/')}", b, b.tags) for b in page]

    def read(self, container: str, name: str) -> Blob | None:
        """Properties and tags of one blob in ONE call; None when it (or its container) no longer exists.

        A listing from the blob's own name (`prefix=name`, `maxresults=1`, with tags): names come in
        lexicographic order, so the first one is the blob itself when it exists (anything else, e.g.
        `name/child`, means it does not). Properties and index tags come from the same response, so
        they describe one state of the blob (two GETs could straddle a change).
        """
        client = self._container(container)
        try:
            pages = client.list_blobs(name_starts_with=name, include=["tags"], results_per_page=1).by_page()
            first = next(iter(next(pages, [])), None)
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "ContainerNotFound":
                return None
            raise
        if first is None or first.name != name:
            return None
        return self._blob(container, name, clean_url(client.get_blob_client(name).url), first, first.tags)

    def exists(self, container: str, name: str) -> bool:
        """The confirmation re-read: `get_blob_properties`; 404 BlobNotFound means deleted."""
        try:
            self._container(container).get_blob_client(name).get_blob_properties()
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) in ("BlobNotFound", "ContainerNotFound"):
                return False
            raise
        return True

    # -- writes (refused on the wire by a read-only client) ------------------------------------------
    def set_tags(self, container: str, name: str, tags: Mapping[str, str]) -> None:
        """Replace the blob's index tags with `tags` (the caller merges: Set Blob Tags replaces all)."""
        self._container(container).get_blob_client(name).set_blob_tags(dict(tags))

    def delete(self, container: str, name: str, *, etag: str | None, tags_match: str | None) -> None:
        """Delete the blob and its snapshots, only if unchanged (`etag`) and its tags still match."""
        kwargs: dict[str, Any] = {"delete_snapshots": "include"}
        if etag:
            kwargs["etag"] = etag
            kwargs["match_condition"] = MatchConditions.IfNotModified
        if tags_match:
            kwargs["if_tags_match_condition"] = tags_match
        self._container(container).delete_blob(name, **kwargs)

    def close(self) -> None:
        self._service.close()

    def __enter__(self) -> BlobAccount:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
