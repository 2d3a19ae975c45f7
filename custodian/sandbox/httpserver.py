"""The HTTP(S) server that every emulator runs on: threading, free port, request log and faults.

An emulator is a plain object with `handle(request) -> Response` and `fault_response(kind, request)`;
`EmulatorServer` serves it on 127.0.0.1, logs every request (method, path, query, status, fault)
and applies the fault plan before dispatching.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from custodian.sandbox.faults import FaultInjector, FaultKind, FaultPlan


@dataclass
class Request:
    """One parsed HTTP request, as an emulator sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    base_url: str
    raw_query: str = ""
    truncate: bool = False

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter, matched case-insensitively (ARM is case-insensitive)."""
        lowered = name.lower()
        for key, values in self.query.items():
            if key.lower() == lowered and values:
                return values[0]
        return default

    def header(self, name: str, default: str | None = None) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default

    def json(self) -> object:
        """The body parsed as JSON (None when empty); raises ValueError on malformed JSON."""
        if not self.body.strip():
            return None
        return json.loads(self.body)


@dataclass
class Response:
    """What an emulator answers; `fault` names an injected fault for the request log."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None


def json_response(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
    out = {"Content-Type": "application/json; charset=utf-8"}
    out.update(headers or {})
    return Response(status, json.dumps(payload).encode(), out)


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, b"", dict(headers or {}))


@dataclass(frozen=True)
class RequestRecord:
    """One line of an emulator's request log."""

    method: str
    path: str
    query: str
    status: int
    fault: str | None
    at: float


class Emulator(Protocol):
    def handle(self, request: Request) -> Response: ...

    def fault_response(self, kind: FaultKind, request: Request) -> Response: ...


class EmulatorServer:
    """Serves an emulator on 127.0.0.1 on a free port, over HTTP or HTTPS, in a daemon thread."""

    def __init__(
        self,
        emulator: Emulator,
        *,
        faults: FaultPlan | None = None,
        ssl_context: ssl.SSLContext | None = None,
        name: str = "emulator",
    ) -> None:
        self.emulator = emulator
        self.faults = FaultInjector(faults or FaultPlan())
        self.name = name
        self._ssl_context = ssl_context
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            return self
        handler = _make_handler(self)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        if self._ssl_context is not None:
            httpd.socket = self._ssl_context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{self.name} is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- request log -----------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def set_faults(self, plan: FaultPlan) -> None:
        self.faults.replace(plan)

    def _record(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._log.append(record)

    # -- dispatch --------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        decision = self.faults.decide(request.method, request.path, is_list=request.method == "GET")
        if decision.latency_s:
            time.sleep(decision.latency_s)
        if decision.kind in (FaultKind.THROTTLE, FaultKind.SERVER_ERROR):
            response = self.emulator.fault_response(decision.kind, request)
            response.fault = decision.kind.value
            return response
        request.truncate = decision.kind is FaultKind.TRUNCATE
        try:
            response = self.emulator.handle(request)
        except Exception as exc:  # noqa: BLE001 - an emulator bug must surface as a 500 the client sees
            return json_response(500, {"error": {"code": "EmulatorError", "message": repr(exc)}})
        if decision.kind is FaultKind.LOOP_NEXT and response.status == 200:
            return next_link_to_itself(request, response)
        if decision.kind is FaultKind.DROP:
            response.fault = FaultKind.DROP.value  # carried out; the handler sends no answer
        return response


def next_link_to_itself(request: Request, response: Response) -> Response:
    """The LOOP_NEXT fault: a list page as answered, its next link replaced by (or set to) the request's own URL.

    ARM list pages (`{"value": [...]}`) get `nextLink`, GitHub list pages (a JSON array) get
    `Link: <own URL>; rel="next"` beside their other links; any other answer is left alone.
    """
    own = f"{request.base_url}{request.path}" + (f"?{request.raw_query}" if request.raw_query else "")
    try:
        payload = json.loads(response.body) if response.body else None
    except ValueError:
        return response
    if isinstance(payload, dict) and isinstance(payload.get("value"), list):
        payload["nextLink"] = own
        response.body = json.dumps(payload).encode()
    elif isinstance(payload, list):
        header = next((k for k in response.headers if k.lower() == "link"), "Link")
        links = response.headers.get(header, "").split(",")
        others = [link.strip() for link in links if link.strip() and 'rel="next"' not in link]
        response.headers[header] = ", ".join([f'<{own}>; rel="next"', *others])
    else:
        return response
    response.fault = FaultKind.LOOP_NEXT.value
    return response


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    scheme = "https" if server._ssl_context is not None else "http"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # small header/body writes would otherwise stall ~40 ms

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            return  # the structured request log replaces stderr noise

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host") or f"127.0.0.1:{server.port}"
            request = Request(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers=dict(self.headers.items()),
                body=body,
                base_url=f"{scheme}://{host}",
                raw_query=split.query,
            )
            response = server.dispatch(request)
            server._record(
                RequestRecord(self.command, split.path, split.query, response.status, response.fault, time.time())
            )
            if response.fault == FaultKind.DROP.value:
                self.close_connection = True  # the change was made; its answer is lost on the way back
                return
            self.send_response(response.status)
            headers = dict(response.headers)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.body and self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve

    return Handler
