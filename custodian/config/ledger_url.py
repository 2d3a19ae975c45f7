"""The ledger URL's form, checked without connecting: a backend the ledger supports, a SQLite file it can create.

`config validate` refuses what `Ledger.open` would refuse for its form (an unparsable URL, another
database, a SQLite path that is a directory or lies under a file); whether the database answers is
`config validate --check-connections`' question (`custodian.ledger.probe`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from custodian.config.values import creatable_problem

_FORMS = "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE"


def ledger_url_problem(url: str) -> str | None:
    """Why `url` cannot be the ledger's (None: its form is fine)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return f"not a database URL: {url!r} ({_FORMS})"
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return None  # whether it answers is --check-connections' question (no host: the local socket)
    if backend != "sqlite":
        return f"unsupported database {backend!r} ({_FORMS})"
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    return creatable_problem(Path(database).expanduser(), "file")
