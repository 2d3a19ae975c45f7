"""The blob gateway: marks (index tags) and deletions (with snapshots) of one storage account's blobs.

A delete is conditional: on the blob's ETag (unchanged since the re-read) and on the mark tag still
holding the value that was judged due (`x-ms-if-tags`); a 412 leaves the blob in place (FAILED).
"""

from __future__ import annotations

from collections.abc import Callable

from custodian.engine.execute import Operation
from custodian.engine.holds import Target
from custodian.model import Action, ActionKind, Blob
from custodian.providers.azure.blobs import BlobAccount, TagQueryError, tag_equals

BlobMarkCheck = Callable[[Blob], bool]


def split_blob_key(key: str) -> tuple[str, str, str]:
    """`blob:<account>/<container>/<name>` -> (account, container, name)."""
    if not key.startswith("blob:") or key.count("/") < 2:
        raise ValueError(f"not a blob key: {key!r}")
    account, container, name = key.removeprefix("blob:").split("/", 2)
    return account, container, name


class BlobGateway:
    def __init__(self, account: BlobAccount, marked: BlobMarkCheck) -> None:
        self.account = account
        self.marked = marked

    def read(self, action: Action) -> Target | None:
        _, container, name = split_blob_key(action.target)
        return self.account.read(container, name)

    def satisfied(self, action: Action, target: Target | None) -> bool | None:
        if action.kind is ActionKind.DELETE_RESOURCE:
            return target is None
        if action.kind is ActionKind.MARK:
            return isinstance(target, Blob) and self.marked(target)
        return False

    def blocked(self, action: Action, target: Target) -> str | None:
        return None

    def in_progress(self, action: Action, target: Target) -> Operation | None:
        return None

    def perform(self, action: Action, target: Target) -> Operation | None:
        assert isinstance(target, Blob)
        tag = action.param("mark_tag")
        if not tag:
            raise ValueError(f"{action.key}: no mark tag")
        if action.kind is ActionKind.MARK:
            due = action.param("due")
            if not due:
                raise ValueError(f"{action.key}: a mark needs its due time")
            self.account.set_tags(target.container, target.name, target.tags.with_value(tag, due).as_dict())
            return None
        if action.kind is ActionKind.DELETE_RESOURCE:
            written = target.tags.key_as_written(tag) or tag
            try:
                condition: str | None = tag_equals(written, target.tags.value(tag) or "")
            except TagQueryError:
                condition = None  # the ETag condition still holds the blob to what was re-read
            self.account.delete(target.container, target.name, etag=target.etag, tags_match=condition)
            return None
        raise ValueError(f"{action.kind.value} does not apply to a blob")
