"""ARM protocol mechanics shared by all routes: long-running operations and `nextLink` paging.

`Operations` hands out `Azure-AsyncOperation` / `Location` URLs on the emulator (built from the
request's Host), answers their polls (`InProgress` for N polls with `Retry-After: 1`, then
`Succeeded`; Location: 202 then 200 with the result or 204) and runs each operation's completion
exactly once. `paged` slices a list into `{"value", "nextLink"}` pages with an opaque `$skiptoken`
and honours the truncate fault.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from custodian.sandbox.arm_resources import ArmError, bad_request
from custodian.sandbox.arm_store import ArmStore, JsonDict
from custodian.sandbox.faults import FaultKind
from custodian.sandbox.httpserver import Request, Response, empty_response, json_response

OPERATION_KINDS = {"operations", "operationstatuses", "operationresults"}


@dataclass
class Operation:
    """One long-running operation: InProgress for N polls (or until it ages out), then Succeeded."""

    op_id: str
    complete: Callable[[], JsonDict | None]
    started: str
    created_at: float
    polls: int = 0
    status: str = "InProgress"
    result: JsonDict | None = None
    ended: str | None = None


def location_slug(location: object) -> str:
    return str(location or "eastus").replace(" ", "").lower()


class Operations:
    """The emulator's long-running operations; completions run under the store lock."""

    def __init__(self, store: ArmStore, polls_in_progress: int, auto_complete_s: float | None) -> None:
        self.store = store
        self.polls_in_progress = polls_in_progress
        # Real ARM finishes an operation whether or not anyone polls; pending ones complete after this long.
        self.auto_complete_s = auto_complete_s
        self.retry_after = 1  # the Retry-After (integer seconds) of in-progress answers; tests may set 0
        self._ops: dict[str, Operation] = {}
        self._lock = threading.RLock()

    def start(
        self,
        request: Request,
        subscription: str,
        namespace: str,
        location: object,
        complete: Callable[[], JsonDict | None],
        *,
        status: int = 202,
        body: JsonDict | None = None,
        async_header: bool = True,
        location_header: bool = True,
    ) -> Response:
        """Register an operation and answer the request that started it (default: 202 + both URLs)."""
        op = Operation(uuid.uuid4().hex, complete, self.store.now_iso(), time.monotonic())
        with self._lock:
            self._ops[op.op_id] = op
        api = quote(request.param("api-version") or "", safe="")
        base = (
            f"{request.base_url}/subscriptions/{subscription}/providers/{namespace}/locations/{location_slug(location)}"
        )
        headers = {"Retry-After": str(int(self.retry_after))}
        if async_header:
            headers["Azure-AsyncOperation"] = f"{base}/operations/{op.op_id}?api-version={api}"
        if location_header:
            headers["Location"] = f"{base}/operationResults/{op.op_id}?api-version={api}"
        return json_response(status, body, headers) if body is not None else empty_response(status, headers)

    def poll(self, request: Request, kind: str, op_id: str) -> Response:
        """Answer a GET of an operation URL (`operations`/`operationStatuses` or `operationResults`)."""
        with self._lock:
            op = self._ops.get(op_id.lower())
        if op is None:
            raise ArmError(404, "OperationNotFound", f"The operation '{op_id}' could not be found.")
        with self.store.lock:
            if op.status == "InProgress":
                if op.polls < self.polls_in_progress:
                    op.polls += 1
                else:
                    self._finish(op)
        in_progress = {"Retry-After": str(int(self.retry_after))} if op.status == "InProgress" else {}
        if kind.lower() == "operationresults":
            if op.status == "InProgress":
                here = f"{request.base_url}{request.path}?{request.raw_query}"
                return empty_response(202, {**in_progress, "Location": here})
            return json_response(200, op.result) if op.result is not None else empty_response(204)
        body: JsonDict = {"id": request.path, "name": op.op_id, "status": op.status, "startTime": op.started}
        if op.ended:
            body["endTime"] = op.ended
        return json_response(200, body, in_progress)

    def settle(self) -> int:
        """Complete every pending operation now; returns how many were completed."""
        with self.store.lock:
            pending = self._pending()
            for op in pending:
                self._finish(op)
            return len(pending)

    def pending(self) -> int:
        return len(self._pending())

    def age(self) -> None:
        """Complete operations older than `auto_complete_s` (called on every request)."""
        if self.auto_complete_s is None:
            return
        cutoff = time.monotonic() - self.auto_complete_s
        with self.store.lock:
            for op in self._pending():
                if op.created_at <= cutoff:
                    self._finish(op)

    def _pending(self) -> list[Operation]:
        with self._lock:
            return [op for op in self._ops.values() if op.status == "InProgress"]

    def _finish(self, op: Operation) -> None:
        if op.status == "InProgress":
            op.result = op.complete()
            op.status = "Succeeded"
            op.ended = self.store.now_iso()


def _decode_token(token: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":", 1)[1])
    except (ValueError, IndexError, binascii.Error) as exc:
        raise bad_request(f"The $skiptoken '{token}' is invalid.", "InvalidSkipToken") from exc


def paged(request: Request, items: list[JsonDict], page_size: int) -> Response:
    """One page of `items` as `{"value": [...], "nextLink"?}`; nextLink keeps every query parameter.

    `$top` / `$maxpagesize` can lower the page size. Under the truncate fault the page is cut to half
    and loses its nextLink, and the response is marked for the request log.
    """
    token = request.param("$skiptoken")
    offset = _decode_token(token) if token else 0
    size = page_size
    for cap in ("$top", "$maxpagesize"):
        value = request.param(cap)
        if value and value.isdigit() and int(value) > 0:
            size = min(size, int(value))
    page = items[offset : offset + size]
    payload: JsonDict = {"value": page}
    if request.truncate:
        payload["value"] = page[: len(page) // 2]
    elif offset + size < len(items):
        next_token = base64.urlsafe_b64encode(f"o:{offset + size}".encode()).decode().rstrip("=")
        query = [
            f"{quote(k, safe='$')}={quote(v, safe='')}"
            for k, values in request.query.items()
            if k.lower() != "$skiptoken"
            for v in values
        ]
        query.append(f"$skiptoken={next_token}")
        payload["nextLink"] = f"{request.base_url}{request.path}?{'&'.join(query)}"
    response = json_response(200, payload)
    if request.truncate:
        response.fault = FaultKind.TRUNCATE.value
    return response
