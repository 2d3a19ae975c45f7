"""Event-driven hand-off: `webhook_events` keeps every GitHub delivery the service accepted, once
(unique on the `X-GitHub-Delivery` id, so a redelivery acts once), with the one-off time its
version-scoped run is due (tag time + grace): a due event survives a restart and is run by the leader.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Column types are spelled out here (not imported from schema.py) so this revision never changes
once applied; `schema.py` must stay equal to the sum of all revisions (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("repo", sa.String(256), nullable=False),
        sa.Column("ref", sa.String(256), nullable=True),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("stage", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holder", sa.String(256), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
        sa.UniqueConstraint("delivery_id", name="uq_webhook_events_delivery_id"),
    )
    op.create_index("ix_webhook_events_status_due_at", "webhook_events", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_status_due_at", table_name="webhook_events")
    op.drop_table("webhook_events")
