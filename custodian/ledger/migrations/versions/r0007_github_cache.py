"""GitHub reads kept between runs: facts that never change (an annotated tag's date, a deployment's
statuses once it succeeded) and the last answer of each conditional read with its ETag.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Column types are spelled out here (not imported from schema.py) so this revision never changes
once applied; `schema.py` must stay equal to the sum of all revisions (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "github_facts",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name="pk_github_facts"),
    )
    op.create_table(
        "github_etags",
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("etag", sa.String(256), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url", name="pk_github_etags"),
    )


def downgrade() -> None:
    op.drop_table("github_etags")
    op.drop_table("github_facts")
