"""What started each run: `runs.trigger` keeps the run's trigger (`schedule:<job>@<slot>`,
`event:<delivery id>`, `manual` / `cli`, ...), so reports and the digest can tell the revocations
that came from a GitHub event from those the schedule made. NULL for runs recorded before 0008.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Column types are spelled out here (not imported from schema.py) so this revision never changes
once applied; `schema.py` must stay equal to the sum of all revisions (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("trigger", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("trigger")
