"""The optional HTTP endpoint of the scheduled service: `/healthz` (JSON) and `/metrics` (Prometheus).

With a `webhook` receiver (`service.webhooks`), `POST /webhooks/github` is handed to it
(`custodian.service.webhooks`); every other POST is 404.

`/healthz` answers 200 when the scheduler loop runs, the lease keeper runs and the ledger answered
its last lease round recently, whether this replica leads or stands by (both are healthy: a
standby is ready to take over); 503 otherwise, with the problems listed. Off unless
`service.health.port` is set (port 0 picks a free port; `HealthServer.port` says which).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from custodian.service.webhooks import WebhookReceiver

_LOG = logging.getLogger("release_custodian.health")


class HealthServer:
    """Serves `status()` at /healthz and `metrics()` at /metrics in a daemon thread."""

    def __init__(
        self,
        bind: str,
        port: int,
        status: Callable[[], dict[str, Any]],
        metrics: Callable[[], bytes],
        webhook: WebhookReceiver | None = None,
    ) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/healthz":
                        body = owner.status()
                        code = 200 if body.get("healthy") else 503
                        self._send(code, "application/json", json.dumps(body, default=str).encode())
                    elif path == "/metrics":
                        self._send(200, CONTENT_TYPE_LATEST, owner.metrics())
                    else:
                        self._send(404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n")
                except Exception as exc:  # noqa: BLE001 - a probe must get an answer
                    _LOG.exception("health endpoint failed")
                    self._send(500, "text/plain; charset=utf-8", f"error: {type(exc).__name__}\n".encode())

            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0]
                if owner.webhook is None or path != "/webhooks/github":
                    self.close_connection = True  # the body was not read
                    self._send(404, "text/plain; charset=utf-8", b"not found\n")
                    return
                try:
                    answer = owner.webhook.serve(self.headers, self.rfile)
                except Exception as exc:  # noqa: BLE001 - GitHub must get an answer (and will redeliver)
                    _LOG.exception("webhook endpoint failed")
                    self.close_connection = True
                    self._send(500, "text/plain; charset=utf-8", f"error: {type(exc).__name__}\n".encode())
                    return
                self.close_connection = self.close_connection or answer.close
                self._send(answer.status, "application/json", answer.encoded())

            def _send(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                return None

        self.status = status
        self.metrics = metrics
        self.webhook = webhook
        self._server = ThreadingHTTPServer((bind, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        extra = " and POST /webhooks/github" if self.webhook is not None else ""
        _LOG.info(f"health: /healthz and /metrics{extra} on port {self.port}")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
