"""The ARM (Azure Resource Manager) emulator: request checks, routing, response headers and faults.

`ArmEmulator.handle` serves the management-plane surface the project's Azure SDK clients and
c7n-azure use (subscriptions, resource groups, generic resources and the Tags API, providers,
compute, network, storage and container-registry resources); `start_arm` runs it over HTTPS on an
`EmulatorServer`. State lives in `arm_store.ArmStore`, read-time rendering in `arm_views`, provider
semantics (dependency checks, cascades, ACR tokens, keys, tags) in `arm_resources`, and
long-running operations and paging in `arm_lro`.
"""

from __future__ import annotations

import copy
import time
import uuid
from urllib.parse import unquote

from custodian.sandbox.arm_auth import ArmAuth
from custodian.sandbox.arm_lro import OPERATION_KINDS, Operations, paged
from custodian.sandbox.arm_resources import (
    SYNC_DELETE_TYPES,
    VM_ACTIONS,
    ArmError,
    bad_request,
    body_tags,
    check_deletable,
    complete_generate_credentials,
    complete_vm_action,
    create_token,
    deep_merge,
    generate_credentials,
    group_not_found,
    json_object,
    patch_tags,
    remove_group,
    remove_resource,
    resource_not_found,
    set_tags,
    storage_keys,
    subscription_not_found,
    tags_resource,
    touch_modified,
    update_token,
)
from custodian.sandbox.arm_store import (
    REGISTRY_TYPE,
    STORAGE_TYPE,
    TOKEN_TYPE,
    VM_TYPE,
    ArmStore,
    JsonDict,
    ResourceId,
    id_key,
    parse_resource_id,
)
from custodian.sandbox.arm_views import (
    FilterError,
    Relations,
    generic_view,
    instance_view,
    matches,
    parse_filter,
    provider_doc,
    provider_namespaces,
    render,
    rtype,
    status_view,
)
from custodian.sandbox.clock import SandboxClock, iso
from custodian.sandbox.faults import FaultKind, FaultPlan
from custodian.sandbox.httpserver import EmulatorServer, Request, Response, empty_response, json_response
from custodian.sandbox.tls import SandboxTLS

__all__ = ["ArmEmulator", "ArmError", "ArmStore", "start_arm"]

_TAGS_SUFFIX = ["providers", "microsoft.resources", "tags", "default"]
_QUOTAS = {"reads": 11999, "writes": 1199, "deletes": 14999}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


def _quota_kind(method: str) -> str:
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "reads"
    return "deletes" if method == "DELETE" else "writes"


def _is_top_level(doc: JsonDict) -> bool:
    rid = parse_resource_id(str(doc["id"]))
    return rid is not None and len(rid.types) == 1


class ArmEmulator:
    """Serves ARM over an `EmulatorServer` (see module docstring); state is `self.store`.

    Deletes (and VM power actions, token creation, generateCredentials) are long-running: their
    operation URLs answer InProgress for `lro_polls_in_progress` polls, then Succeeded, and the
    change is applied then. An operation nobody polls completes by itself after
    `lro_auto_complete_s` seconds (at the next request), as real ARM finishes work unobserved;
    `settle()` completes all pending ones at once.
    """

    def __init__(
        self,
        store: ArmStore | None = None,
        *,
        clock: SandboxClock | None = None,
        page_size: int = 100,
        lro_polls_in_progress: int = 1,
        lro_auto_complete_s: float | None = 10.0,
        auth: ArmAuth | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.store = store if store is not None else ArmStore(clock)
        self.clock = clock or self.store.clock
        self.page_size = page_size
        self.operations = Operations(self.store, lro_polls_in_progress, lro_auto_complete_s)
        self.server: EmulatorServer | None = None
        self.auth = auth  # None: any bearer token is accepted (the emulator's own unit tests)
        self._quota = dict(_QUOTAS)
        self._relations: tuple[int, Relations] | None = None

    # -- Emulator protocol ---------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        with self.store.lock:
            try:
                self.operations.age()
                response = self._dispatch(request)
            except ArmError as exc:
                response = _error(exc.status, exc.code, exc.message, exc.headers)
            self._decorate(request, response)
            return response

    def fault_response(self, kind: FaultKind, request: Request) -> Response:
        plan = self.server.faults.plan if self.server is not None else FaultPlan()
        quota = _quota_kind(request.method)
        if kind is FaultKind.THROTTLE:
            operation = {"reads": "Read", "writes": "Write", "deletes": "Delete"}[quota]
            response = _error(
                429,
                "TooManyRequests",
                f"The request is being throttled as the limit has been reached for operation type - "
                f"{operation}_ObservationWindow_00:05:00. For more information, see - https://aka.ms/srpthrottlinglimits",
                {"Retry-After": str(plan.retry_after), f"x-ms-ratelimit-remaining-subscription-{quota}": "0"},
            )
        else:
            tracking = str(uuid.uuid4())
            response = _error(
                plan.error_status,
                "InternalServerError",
                f"Encountered internal server error. Diagnostic information: timestamp '{iso(self.clock.now())}', "
                f"tracking id '{tracking}', request correlation id '{tracking}'.",
            )
        response.headers.update(self._ids())
        return response

    # -- operations ------------------------------------------------------------------------------
    @property
    def lro_polls_in_progress(self) -> int:
        return self.operations.polls_in_progress

    @lro_polls_in_progress.setter
    def lro_polls_in_progress(self, value: int) -> None:
        self.operations.polls_in_progress = value

    def settle(self) -> int:
        """Complete every pending long-running operation now; returns how many were completed."""
        return self.operations.settle()

    def pending_operations(self) -> int:
        return self.operations.pending()

    # -- plumbing --------------------------------------------------------------------------------
    def _ids(self) -> dict[str, str]:
        request_id = str(uuid.uuid4())
        return {
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": request_id,
            "x-ms-routing-request-id": f"EASTUS:{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}:{request_id}",
        }

    def _decorate(self, request: Request, response: Response) -> None:
        kind = _quota_kind(request.method)
        self._quota[kind] = self._quota[kind] - 1 if self._quota[kind] > 1 else _QUOTAS[kind]
        response.headers.setdefault(f"x-ms-ratelimit-remaining-subscription-{kind}", str(self._quota[kind]))
        response.headers.setdefault("Cache-Control", "no-cache")
        response.headers.setdefault("Expires", "-1")
        for key, value in self._ids().items():
            response.headers.setdefault(key, value)

    def _rel(self) -> Relations:
        if self._relations is None or self._relations[0] != self.store.version:
            self._relations = (self.store.version, Relations.build(self.store.raw_resources()))
        return self._relations[1]

    def _render(self, doc: JsonDict, *, with_instance_view: bool = False) -> JsonDict:
        return render(doc, self._rel(), self.store.now_iso(), with_instance_view=with_instance_view)

    def _body(self, request: Request) -> JsonDict:
        try:
            payload = request.json()
        except ValueError as exc:
            raise bad_request(f"The request content was invalid and could not be deserialized: {exc}") from exc
        return json_object(payload if payload is not None else {})

    def _paged(self, request: Request, items: list[JsonDict]) -> Response:
        return paged(request, items, self.page_size)

    # -- routing -----------------------------------------------------------------------------------
    def _dispatch(self, request: Request) -> Response:
        auth = request.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if self.auth is not None:
            self.auth.check(request)  # static tokens and the Entra emulator's, unexpired (arm_auth)
        elif scheme.lower() != "bearer" or not token.strip():
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        if not request.param("api-version"):
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        segs = [unquote(s) for s in request.path.split("/") if s]
        low = [s.lower() for s in segs]
        method = request.method.upper()
        if len(low) >= 5 and low[-4:] == _TAGS_SUFFIX:
            return self._tags(request, "/" + "/".join(segs[:-4]))
        if low == ["subscriptions"] and method == "GET":
            return self._paged(request, self.store.raw_subscriptions())
        if low[:1] == ["providers"] and len(low) <= 2 and method == "GET":
            return self._providers(request, None, segs[1] if len(segs) == 2 else None)
        if len(low) < 2 or low[0] != "subscriptions":
            raise self._no_route(request)
        sub = segs[1]
        subscription = self.store.raw_subscription(sub)
        if subscription is None:
            raise subscription_not_found(sub)
        rest, lrest = segs[2:], low[2:]
        if not rest:
            self._require_method(request, "GET")
            return json_response(200, subscription)
        if lrest[0] == "providers":
            return self._subscription_providers(request, sub, rest)
        if lrest == ["resources"]:
            self._require_method(request, "GET")
            return self._generic_list(request, f"/subscriptions/{sub}/")
        if lrest[0] == "resourcegroups":
            return self._groups(request, sub, rest)
        raise self._no_route(request)

    def _no_route(self, request: Request) -> ArmError:
        return ArmError(
            404, "NotFound", f"The requested URI does not represent any resource or method: '{request.path}'."
        )

    def _require_method(self, request: Request, *allowed: str) -> None:
        if request.method.upper() not in allowed:
            raise ArmError(
                405, "MethodNotAllowed", f"The requested resource does not support http method '{request.method}'."
            )

    def _subscription_providers(self, request: Request, sub: str, rest: list[str]) -> Response:
        lrest = [s.lower() for s in rest]
        if len(rest) == 6 and lrest[2] == "locations" and lrest[4] in OPERATION_KINDS:
            self._require_method(request, "GET")
            return self.operations.poll(request, lrest[4], rest[5])
        if len(rest) <= 2:
            self._require_method(request, "GET")
            return self._providers(request, sub, rest[1] if len(rest) == 2 else None)
        if len(rest) == 3 and lrest[2] == "register":
            self._require_method(request, "POST")
            return self._providers(request, sub, rest[1])
        if len(rest) == 3:
            self._require_method(request, "GET")
            wanted = f"{rest[1]}/{rest[2]}".lower()
            prefix = f"/subscriptions/{sub.lower()}/"
            docs = [d for d in self.store.raw_resources() if rtype(d) == wanted and id_key(d["id"]).startswith(prefix)]
            return self._list_docs(request, docs)
        raise self._no_route(request)

    def _providers(self, request: Request, sub: str | None, namespace: str | None) -> Response:
        types = sorted({str(d.get("type", "")) for d in self.store.raw_resources()})
        if namespace is None:
            docs = [provider_doc(ns, sub, types) for ns in provider_namespaces(types)]
            return self._paged(request, [d for d in docs if d is not None])
        doc = provider_doc(namespace, sub, types)
        if doc is None:
            raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")
        return json_response(200, doc)

    def _list_docs(self, request: Request, docs: list[JsonDict]) -> Response:
        status_only = (request.param("statusOnly") or "").lower() == "true"
        expand_view = "instanceview" in (request.param("$expand") or "").lower()
        if status_only:  # run-time status only, as real ARM lists it (arm_views.status_view)
            now = self.store.now_iso()
            rendered = [status_view(d, now) if rtype(d) == VM_TYPE else self._render(d) for d in docs]
        else:
            rendered = [self._render(d, with_instance_view=rtype(d) == VM_TYPE and expand_view) for d in docs]
        return self._paged(request, rendered)

    def _generic_list(self, request: Request, prefix: str) -> Response:
        try:
            clauses = parse_filter(request.param("$filter"))
        except FilterError as exc:
            raise bad_request(str(exc), "InvalidFilterInQueryString") from exc
        expand = request.param("$expand")
        docs = [
            generic_view(d, expand)
            for d in self.store.raw_resources()
            if id_key(d["id"]).startswith(prefix.lower()) and _is_top_level(d) and matches(d, clauses)
        ]
        return self._paged(request, docs)

    # -- resource groups -------------------------------------------------------------------------
    def _groups(self, request: Request, sub: str, rest: list[str]) -> Response:
        method = request.method.upper()
        if len(rest) == 1:
            self._require_method(request, "GET")
            try:
                clauses = parse_filter(request.param("$filter"))
            except FilterError as exc:
                raise bad_request(str(exc), "InvalidFilterInQueryString") from exc
            groups = [g for g in self.store.raw_groups(sub) if matches(g, clauses)]
            return self._paged(request, groups)
        name = rest[1]
        group = self.store.raw_group(sub, name)
        if len(rest) == 2:
            return self._group(request, sub, name, group)
        if group is None:
            raise group_not_found(name)
        lrest = [s.lower() for s in rest]
        if lrest[2:] == ["resources"]:
            self._require_method(request, "GET")
            return self._generic_list(request, str(group["id"]) + "/")
        if lrest[2] != "providers" or len(rest) < 5:
            raise self._no_route(request)
        namespace, parts = rest[3], rest[4:]
        if len(parts) % 2 == 0:
            rid = ResourceId(sub, name, namespace, tuple(parts[0::2]), tuple(parts[1::2]))
            return self._resource(request, rid)
        if len(parts) == 1:
            self._require_method(request, "GET")
            wanted = f"{namespace}/{parts[0]}".lower()
            prefix = id_key(str(group["id"])) + "/"
            docs = [d for d in self.store.raw_resources() if rtype(d) == wanted and id_key(d["id"]).startswith(prefix)]
            return self._list_docs(request, docs)
        parent = ResourceId(sub, name, namespace, tuple(parts[:-1][0::2]), tuple(parts[:-1][1::2]))
        last = parts[-1]
        if method == "POST":
            return self._action(request, parent, last)
        self._require_method(request, "GET")
        if last.lower() == "instanceview" and len(parent.types) == 1:
            vm = self._require(parent)
            if rtype(vm) != VM_TYPE:
                raise self._no_route(request)
            return json_response(200, instance_view(vm, self.store.now_iso()))
        self._require(parent.top)
        prefix = f"{parent.key}/{last.lower()}/"
        docs = [
            d
            for d in self.store.raw_resources()
            if id_key(d["id"]).startswith(prefix) and "/" not in id_key(d["id"])[len(prefix) :]
        ]
        return self._list_docs(request, docs)

    def _group(self, request: Request, sub: str, name: str, group: JsonDict | None) -> Response:
        method = request.method.upper()
        if method == "HEAD":
            return empty_response(204 if group is not None else 404)
        if method == "PUT":
            body = self._body(request)
            if group is None:
                if not body.get("location"):
                    raise bad_request("The 'location' property is required to create a resource group.")
                tags = body.get("tags")
                self.store.add_resource_group(
                    sub,
                    name,
                    str(body["location"]),
                    dict(tags) if isinstance(tags, dict) else None,
                    managed_by=body.get("managedBy"),
                )
                created = self.store.raw_group(sub, name)
                assert created is not None
                return json_response(201, created)
            if isinstance(body.get("tags"), dict):
                set_tags(group, body["tags"])
            self.store.touch()
            return json_response(200, group)
        if group is None:
            raise group_not_found(name)
        if method == "GET":
            return json_response(200, group)
        if method == "PATCH":
            body = self._body(request)
            if isinstance(body.get("tags"), dict):
                set_tags(group, body["tags"])
            if "managedBy" in body:
                group["managedBy"] = body["managedBy"]
            self.store.touch()
            return json_response(200, group)
        if method == "DELETE":
            group.setdefault("properties", {})["provisioningState"] = "Deleting"
            self.store.touch()

            def complete() -> None:
                remove_group(self.store, group)

            return self.operations.start(request, sub, "Microsoft.Resources", group.get("location"), complete)
        raise ArmError(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")

    # -- resources -----------------------------------------------------------------------------------
    def _require(self, rid: ResourceId) -> JsonDict:
        if rid.is_child and self.store.raw(str(rid.top)) is None:
            raise resource_not_found(rid.top)
        doc = self.store.raw(str(rid))
        if doc is None:
            raise resource_not_found(rid)
        return doc

    def _resource(self, request: Request, rid: ResourceId) -> Response:
        method = request.method.upper()
        if method == "HEAD":
            return empty_response(204 if self.store.raw(str(rid)) is not None else 404)
        if method == "PUT":
            return self._put(request, rid)
        if method == "DELETE":
            return self._delete(request, rid)
        doc = self._require(rid)
        if method == "GET":
            expand = (request.param("$expand") or "").lower()
            return json_response(200, self._render(doc, with_instance_view="instanceview" in expand))
        if method == "PATCH":
            body = self._body(request)
            if rtype(doc) == TOKEN_TYPE:
                update_token(self.store, doc, body)
            else:
                if isinstance(body.get("tags"), dict):
                    set_tags(doc, body["tags"])
                for key in ("sku", "identity", "plan", "kind"):
                    if key in body:
                        doc[key] = body[key]
                if isinstance(body.get("properties"), dict):
                    deep_merge(doc.setdefault("properties", {}), body["properties"])
                touch_modified(self.store, doc)
                self.store.touch()
            return json_response(200, self._render(doc))
        raise ArmError(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")

    def _put(self, request: Request, rid: ResourceId) -> Response:
        body = self._body(request)
        if rid.is_child:
            self._require(rid.top)
        existing = self.store.raw(str(rid))
        if rid.full_type.lower() == TOKEN_TYPE:
            doc = create_token(self.store, rid, body, existing)
            token_id = str(doc["id"])

            def complete() -> None:
                token = self.store.raw(token_id)
                if token is not None:
                    token["properties"]["provisioningState"] = "Succeeded"
                    self.store.touch()

            registry = self.store.raw(str(rid.top)) or {}
            initial = self._render(doc)
            generated = (doc["properties"].get("credentials") or {}).get("passwords") or []
            if any("value" in p for p in generated):  # values are returned only when they are generated
                initial["properties"]["credentials"]["passwords"] = [dict(p) for p in generated]
            return self.operations.start(
                request,
                rid.subscription,
                str(rid.namespace),
                registry.get("location"),
                complete,
                status=200 if existing is not None else 201,
                body=initial,
                location_header=False,
            )
        if existing is None and not rid.is_child and not body.get("location"):
            raise bad_request("The 'location' property is required for this resource.", "LocationRequired")
        if existing is None:
            doc = {**body, "id": str(rid)}
        else:  # a replace keeps what the provider owns (read-only state such as instanceView, vmId, times)
            doc = copy.deepcopy(existing)
            deep_merge(doc, {k: v for k, v in body.items() if k not in ("id", "name", "type", "tags", "systemData")})
            if "tags" in body:
                doc["tags"] = body["tags"]
            doc["systemData"] = self.store.system_data(existing.get("systemData"))
        self.store.put(doc)
        stored = self.store.raw(str(rid))
        assert stored is not None
        return json_response(200 if existing is not None else 201, self._render(stored))

    def _delete(self, request: Request, rid: ResourceId) -> Response:
        if rid.is_child and self.store.raw(str(rid.top)) is None:
            raise resource_not_found(rid.top)
        doc = self.store.raw(str(rid))
        if doc is None:
            return empty_response(204)
        kind = rtype(doc)
        if kind in SYNC_DELETE_TYPES:
            remove_resource(self.store, str(doc["id"]))
            return empty_response(200)
        check_deletable(doc, self._rel())
        doc.setdefault("properties", {})["provisioningState"] = "Deleting"
        self.store.touch()
        resource_id = str(doc["id"])

        def complete() -> None:
            remove_resource(self.store, resource_id)

        location = doc.get("location") or (self.store.raw(str(rid.top)) or {}).get("location")
        return self.operations.start(request, rid.subscription, str(rid.namespace), location, complete)

    def _action(self, request: Request, parent: ResourceId, action: str) -> Response:
        doc = self._require(parent)
        kind, verb = rtype(doc), action.lower()
        if kind == VM_TYPE and verb in VM_ACTIONS:
            vm_id, state = str(doc["id"]), VM_ACTIONS[verb]

            def complete() -> None:
                complete_vm_action(self.store, vm_id, state)

            return self.operations.start(
                request, parent.subscription, str(parent.namespace), doc.get("location"), complete
            )
        if kind == STORAGE_TYPE and verb == "listkeys":
            return json_response(200, storage_keys(self.store, doc))
        if kind == REGISTRY_TYPE and verb == "generatecredentials":
            token_id, body = generate_credentials(self.store, parent, self._body(request))

            def complete_credentials() -> JsonDict:
                return complete_generate_credentials(self.store, token_id, body)

            return self.operations.start(
                request,
                parent.subscription,
                str(parent.namespace),
                doc.get("location"),
                complete_credentials,
                async_header=False,
            )
        raise self._no_route(request)

    # -- Tags API (`{scope}/providers/Microsoft.Resources/tags/default`) ---------------------------
    def _tags(self, request: Request, scope: str) -> Response:
        rid = parse_resource_id(scope)
        if rid is None:
            raise bad_request(f"The scope '{scope}' is not a valid ARM scope.", "InvalidScope")
        if self.store.raw_subscription(rid.subscription) is None:
            raise subscription_not_found(rid.subscription)
        if rid.resource_group is not None and self.store.raw_group(rid.subscription, rid.resource_group) is None:
            raise group_not_found(rid.resource_group)
        doc = self._require(rid) if rid.is_resource else self.store.raw(scope)
        assert doc is not None
        method = request.method.upper()
        current = {str(k): str(v) for k, v in (doc.get("tags") or {}).items()}
        if method == "GET":
            return json_response(200, tags_resource(scope, current))
        if method == "PUT":
            new = body_tags(self._body(request))
        elif method == "PATCH":
            new = patch_tags(current, self._body(request))
        elif method == "DELETE":
            new = {}
        else:
            raise ArmError(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")
        set_tags(doc, new)
        touch_modified(self.store, doc)
        self.store.touch()
        if method == "DELETE":
            return empty_response(200)
        return json_response(200, tags_resource(scope, new))


def start_arm(
    tls: SandboxTLS,
    *,
    faults: FaultPlan | None = None,
    page_size: int = 100,
    clock: SandboxClock | None = None,
    auth: ArmAuth | None = None,
) -> tuple[ArmEmulator, EmulatorServer]:
    """Start the ARM emulator over HTTPS (127.0.0.1, free port); returns it and its running server."""
    emulator = ArmEmulator(clock=clock, page_size=page_size, auth=auth)
    server = EmulatorServer(emulator, faults=faults, ssl_context=tls.server_context(), name="arm")
    emulator.server = server
    server.start()
    return emulator, server
