"""The ledger's tables, as SQLAlchemy Core metadata (queries only: Alembic migrations create them).

Every timestamp column is a `UTCDateTime`: it refuses naive datetimes, stores UTC (as
`timestamptz` on PostgreSQL, as naive UTC text on SQLite) and always returns aware UTC datetimes.
JSON columns hold plain JSON-able values only.

The migrations in `migrations/versions/` must produce exactly these tables; a test compares the
migrated database with this metadata. Add later tables here and in a new migration, never by
editing an applied one (0001: runs, findings, journal, holds; 0002: job_runs, leases; 0003: the
journal's `plan` column, tag_sightings; 0004: the runs' `costs` column; 0005: webhook_events; 0006: notices;
0007: github_facts, github_etags; 0008: the runs' `trigger` column; 0009: listing_sizes).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the ledger; pass a timezone-aware UTC time")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - every supported driver returns datetimes
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("mode", String(16), nullable=False),
    Column("applied", Boolean(), nullable=False),
    Column("config_digest", String(128), nullable=False),
    Column("tool_version", String(64), nullable=False),
    Column("as_of", UTCDateTime(), nullable=True),
    Column("outcome", String(32), nullable=True),  # NULL while running (or after a crash)
    Column("counts", JSON(), nullable=True),
    Column("costs", JSON(), nullable=True),  # revision 0004: the run's cost totals (findings.json `costs`)
    Column("trigger", Text(), nullable=True),  # revision 0008: what started the run (schedule:/event:/manual)
    Index("ix_runs_started_at", "started_at"),
)

findings = Table(
    "findings",
    metadata,
    Column("finding_key", String(128), primary_key=True),
    Column("rule", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("subject", JSON(), nullable=False),
    Column("message", Text(), nullable=False),
    Column("evidence", JSON(), nullable=False),
    Column("remediation", Text(), nullable=False),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("last_run_id", String(64), ForeignKey("runs.id"), nullable=False),
    Index("ix_findings_last_run_id", "last_run_id"),
)

run_findings = Table(
    "run_findings",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.id"), primary_key=True),
    Column("seq", Integer(), primary_key=True, autoincrement=False),
    Column("finding_key", String(128), ForeignKey("findings.finding_key"), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("subject", JSON(), nullable=False),
    Column("message", Text(), nullable=False),
    Column("evidence", JSON(), nullable=False),
    Column("remediation", Text(), nullable=False),
    Index("ix_run_findings_finding_key", "finding_key"),
)

action_journal = Table(
    "action_journal",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.id"), nullable=False),
    Column("action_key", String(512), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", JSON(), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("detail", Text(), nullable=False),
    Column("snapshot", JSON(), nullable=False),
    Column("plan", JSON(), nullable=True),  # revision 0003: scope, target kind and key, not_before, after, params
    Index("ix_action_journal_action_key", "action_key", "id"),
    Index("ix_action_journal_run_id", "run_id"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("target_type", String(16), nullable=False),
    Column("target", String(256), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("placed_by", String(128), nullable=False),
    Column("placed_at", UTCDateTime(), nullable=False),
    Column("until", UTCDateTime(), nullable=False),
    Column("released_at", UTCDateTime(), nullable=True),
    Column("released_by", String(128), nullable=True),
    Column("release_reason", Text(), nullable=True),
    Index("ix_holds_until", "until"),
)

hold_events = Table(
    "hold_events",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("hold_id", String(16), ForeignKey("holds.id"), nullable=False),
    Column("event", String(16), nullable=False),  # "placed" | "released"
    Column("actor", String(128), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_hold_events_hold_id", "hold_id"),
)

# -- the scheduled service (revision 0002) ---------------------------------------------------------

job_runs = Table(  # one row per (job, scheduled slot): a slot runs at most once, across restarts and replicas
    "job_runs",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("job_id", String(64), nullable=False),
    Column("slot", UTCDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # running | succeeded | incomplete | failed | ...
    Column("catch_up", Boolean(), nullable=False),  # run late, once, for a slot missed during downtime
    Column("holder", String(256), nullable=False),  # the replica that wrote the row
    Column("epoch", BigInteger(), nullable=False),  # its lease epoch then (fencing)
    Column("claimed_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("run_id", String(64), nullable=True),  # the lifecycle run it made, if any
    Column("detail", Text(), nullable=False),
    Column("summary", JSON(), nullable=True),  # findings, actions and API calls, by label
    UniqueConstraint("job_id", "slot", name="uq_job_runs_job_id_slot"),
    Index("ix_job_runs_slot", "slot"),
)

leases = Table(  # the leader lease of the scheduled service; times are the database's clock on PostgreSQL
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(256), nullable=False),
    Column("epoch", BigInteger(), nullable=False),  # +1 on every change of holder: the fencing token
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("renewed_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# -- the release timeline's evidence (revision 0003) -------------------------------------------------

tag_sightings = Table(  # when the custodian first saw a tag: the evidence of a lightweight tag's push
    "tag_sightings",
    metadata,
    Column("repo", String(256), primary_key=True),
    Column("tag", String(256), primary_key=True),
    Column("first_seen_at", UTCDateTime(), nullable=False),
)

# -- event-driven hand-off (revision 0005) ------------------------------------------------------------

webhook_events = Table(  # one row per GitHub delivery accepted: a redelivery (same delivery id) acts once
    "webhook_events",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), nullable=False),  # X-GitHub-Delivery
    Column("event", String(64), nullable=False),  # X-GitHub-Event: create, delete, release, deployment_status
    Column("action", String(64), nullable=False),  # the payload's action or state ("" when it has none)
    Column("repo", String(256), nullable=False),
    Column("ref", String(256), nullable=True),  # the tag the event is about
    Column("version", String(128), nullable=True),
    Column("stage", String(64), nullable=True),
    Column("status", String(16), nullable=False),  # pending | running | done | failed | recorded | ignored
    Column("received_at", UTCDateTime(), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=True),  # the tag's, release's or status's time
    Column("due_at", UTCDateTime(), nullable=True),  # occurred_at + grace: when its run is due (pending only)
    Column("holder", String(256), nullable=True),  # the leader that ran it
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("run_id", String(64), nullable=True),  # the version-scoped run it made
    Column("detail", Text(), nullable=False),
    UniqueConstraint("delivery_id", name="uq_webhook_events_delivery_id"),
    Index("ix_webhook_events_status_due_at", "status", "due_at"),
)

# -- notices (revision 0006) ----------------------------------------------------------------------------

notices = Table(  # each notice of an upcoming deletion, per channel and target: sent once, deletions wait for it
    "notices",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("channel", String(32), nullable=False),  # email, slack, teams, github_issue, mailbox
    Column("owner", String(256), nullable=False),
    Column("target", String(1024), nullable=False),  # the target's key
    Column("rule", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # sent | failed
    Column("due_at", UTCDateTime(), nullable=True),  # the deletion it announces, not before
    Column("at", UTCDateTime(), nullable=False),
    Column("detail", Text(), nullable=False),  # the channel's receipt or error (never a secret)
    Index("ix_notices_target_status", "target", "status"),
)

# -- GitHub reads kept between runs (revision 0007) -----------------------------------------------------

github_facts = Table(  # what GitHub never changes once read: (kind, key) -> value; a new object is a new key
    "github_facts",
    metadata,
    Column("kind", String(32), primary_key=True),  # tag_object, deployment_statuses
    Column("key", String(1024), primary_key=True),  # base URL, repository and the object's sha or id
    Column("value", JSON(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
)

github_etags = Table(  # the last 200 answer of a conditional GET and its ETag: a 304 is answered from here
    "github_etags",
    metadata,
    Column("url", String(2048), primary_key=True),  # base URL, path and query
    Column("etag", String(256), nullable=False),
    Column("body", JSON(), nullable=False),  # {"data": the JSON answer, "link": its Link header}
    Column("stored_at", UTCDateTime(), nullable=False),
)

# -- listing sizes (revision 0009) -----------------------------------------------------------------------

listing_sizes = Table(  # each listing's size when last accepted as complete: a shrink is listed twice
    "listing_sizes",
    metadata,
    Column("provider", String(16), primary_key=True),  # azure, github
    Column("scope", String(512), primary_key=True),  # a registry id, an org scope, a repository
    Column("kind", String(64), primary_key=True),  # acr-tokens, org-members, users, tags
    Column("count", Integer(), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
)
