"""The scheduled service: job_runs (one row per job and slot) and leases (leader election, fencing).

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

Column types are spelled out here (not imported from schema.py) so this revision never changes
once applied; `schema.py` must stay equal to the sum of all revisions (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        _ts("slot", False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("catch_up", sa.Boolean(), nullable=False),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        _ts("claimed_at", False),
        _ts("finished_at", True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_runs"),
        sa.UniqueConstraint("job_id", "slot", name="uq_job_runs_job_id_slot"),
    )
    op.create_index("ix_job_runs_slot", "job_runs", ["slot"])

    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        _ts("acquired_at", False),
        _ts("renewed_at", False),
        _ts("expires_at", False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_job_runs_slot", table_name="job_runs")
    op.drop_table("job_runs")
