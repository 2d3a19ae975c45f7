"""The engine: the journal keeps each action's plan (scope, target, not_before, after, params), so a
crash resume can re-read any kind of target; tag_sightings keeps when a tag was first seen.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Column types are spelled out here (not imported from schema.py) so this revision never changes
once applied; `schema.py` must stay equal to the sum of all revisions (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("action_journal") as batch:
        batch.add_column(sa.Column("plan", sa.JSON(), nullable=True))
    op.create_table(
        "tag_sightings",
        sa.Column("repo", sa.String(256), nullable=False),
        sa.Column("tag", sa.String(256), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("repo", "tag", name="pk_tag_sightings"),
    )


def downgrade() -> None:
    op.drop_table("tag_sightings")
    with op.batch_alter_table("action_journal") as batch:
        batch.drop_column("plan")
