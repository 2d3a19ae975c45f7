"""Finance over time: each run keeps its cost totals (`runs.costs`, the `costs` document of its
findings.json: found, reclaimed, held and needs a decision per month, by rule, stage, version,
type and subscription), so reports can show found and reclaimed per day across runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

Column types are spelled out here (not imported from schema.py) so this revision never changes
once applied; `schema.py` must stay equal to the sum of all revisions (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("costs", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("costs")
