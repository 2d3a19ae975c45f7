"""Owners hear before anything is deleted: each notice sent (or failed) per channel and target, so a
rerun never sends the same notice twice and a deletion can wait for its notice.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Column types are spelled out here (not imported from schema.py) so this revision never changes
once applied; `schema.py` must stay equal to the sum of all revisions (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("target", sa.String(1024), nullable=False),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
    )
    op.create_index("ix_notices_target_status", "notices", ["target", "status"])


def downgrade() -> None:
    op.drop_index("ix_notices_target_status", table_name="notices")
    op.drop_table("notices")
