"""The webhook section of the scheduled service: `service.webhooks` (GitHub deliveries to `/webhooks/github`).

    service:
      health: {port: 8080, bind: 0.0.0.0}
      webhooks:
        secret: {env: GITHUB_WEBHOOK_SECRET}   # the secret registered with the webhook, by reference
        max_body: 1048576                      # bytes; a larger delivery is refused with 413
        poll_every: 2s                         # how often the leader looks for due events

The endpoint is served by the health server, so it needs `service.health.port`. The body limit
defaults to 1 MiB: GitHub caps payloads at 25 MB, but the events accepted here (create, delete,
release, deployment_status) are a few kilobytes; a larger body is not one of them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from pydantic import Field

from custodian.config.values import SecretRef, Span, Strict

DEFAULT_MAX_BODY: Final = 1024 * 1024  # 1 MiB
GITHUB_MAX_BODY: Final = 25 * 1024 * 1024  # GitHub never sends more than 25 MB


class WebhooksConfig(Strict):
    """GitHub webhook deliveries: verified with `secret`, recorded in the ledger, run by the leader."""

    secret: SecretRef = Field(description="where the webhook's secret lives: {env: NAME} or {file: PATH}")
    max_body: int = Field(
        default=DEFAULT_MAX_BODY,
        ge=1024,
        le=GITHUB_MAX_BODY,
        description="largest accepted delivery in bytes (413 above it); GitHub's own cap is 25 MB",
    )
    poll_every: Span = Field(
        default=timedelta(seconds=2), description="how often the leader runs the events whose time has come"
    )
