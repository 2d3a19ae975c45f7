"""The size of each listing the last time it was accepted as complete: `listing_sizes`, per
(provider, scope, kind), so that a listing that comes back noticeably smaller is read a second time
before it is believed (a page cut short without a next link looks like the end of the list).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Column types are spelled out here (not imported from schema.py) so this revision never changes
once applied; `schema.py` must stay equal to the sum of all revisions (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listing_sizes",
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "scope", "kind", name="pk_listing_sizes"),
    )


def downgrade() -> None:
    op.drop_table("listing_sizes")
