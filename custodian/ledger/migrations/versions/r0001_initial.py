"""Initial ledger schema: runs, findings, run_findings, action_journal, holds, hold_events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Column types are spelled out here (not imported from schema.py) so this revision never changes
once applied; `schema.py` must stay equal to the sum of all revisions (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        _ts("started_at", False),
        _ts("finished_at", True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("config_digest", sa.String(128), nullable=False),
        sa.Column("tool_version", sa.String(64), nullable=False),
        _ts("as_of", True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])

    op.create_table(
        "findings",
        sa.Column("finding_key", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("remediation", sa.Text(), nullable=False),
        _ts("first_seen_at", False),
        _ts("last_seen_at", False),
        sa.Column("last_run_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("finding_key", name="pk_findings"),
        sa.ForeignKeyConstraint(["last_run_id"], ["runs.id"], name="fk_findings_last_run_id_runs"),
    )
    op.create_index("ix_findings_last_run_id", "findings", ["last_run_id"])

    op.create_table(
        "run_findings",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("finding_key", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("remediation", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_run_findings"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_findings_run_id_runs"),
        sa.ForeignKeyConstraint(["finding_key"], ["findings.finding_key"], name="fk_run_findings_finding_key_findings"),
    )
    op.create_index("ix_run_findings_finding_key", "run_findings", ["finding_key"])

    op.create_table(
        "action_journal",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("action_key", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        _ts("at", False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_action_journal"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_action_journal_run_id_runs"),
    )
    op.create_index("ix_action_journal_action_key", "action_journal", ["action_key", "id"])
    op.create_index("ix_action_journal_run_id", "action_journal", ["run_id"])

    op.create_table(
        "holds",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(128), nullable=False),
        _ts("placed_at", False),
        _ts("until", False),
        _ts("released_at", True),
        sa.Column("released_by", sa.String(128), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_holds"),
    )
    op.create_index("ix_holds_until", "holds", ["until"])

    op.create_table(
        "hold_events",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("hold_id", sa.String(16), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ts("at", False),
        sa.PrimaryKeyConstraint("id", name="pk_hold_events"),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name="fk_hold_events_hold_id_holds"),
    )
    op.create_index("ix_hold_events_hold_id", "hold_events", ["hold_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_hold_events_hold_id", "hold_events"),
        ("ix_holds_until", "holds"),
        ("ix_action_journal_run_id", "action_journal"),
        ("ix_action_journal_action_key", "action_journal"),
        ("ix_run_findings_finding_key", "run_findings"),
        ("ix_findings_last_run_id", "findings"),
        ("ix_runs_started_at", "runs"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("hold_events", "holds", "action_journal", "run_findings", "findings", "runs"):
        op.drop_table(table)
