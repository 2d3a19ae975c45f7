"""The ledger: runs, findings, the action journal, holds, job runs and leases (SQLAlchemy Core; SQLite or PostgreSQL).

Open with `Ledger.open(url)`; the schema is migrated by the Alembic revisions in `migrations/`.
Imports `custodian.model` only (reports and jobs read the ledger, the ledger reads nobody).
"""

from __future__ import annotations

from custodian.ledger.redact import REDACTED, is_secret_key, redact, redact_mapping
from custodian.ledger.scheduling import ClaimResult, JobRun, JobStatus, LeaseState, LeaseToken
from custodian.ledger.store import (
    HoldEvent,
    HoldEventKind,
    JournalEntry,
    Ledger,
    LedgerInputError,
    RunRecord,
    finding_key,
)

__all__ = [
    "REDACTED",
    "ClaimResult",
    "HoldEvent",
    "HoldEventKind",
    "JobRun",
    "JobStatus",
    "JournalEntry",
    "LeaseState",
    "LeaseToken",
    "Ledger",
    "LedgerInputError",
    "RunRecord",
    "finding_key",
    "is_secret_key",
    "redact",
    "redact_mapping",
]
