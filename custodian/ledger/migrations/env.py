"""Alembic environment for the ledger: online only, on the connection `Ledger.open` hands over.

`Ledger.open` runs `upgrade head` inside its own transaction (holding a migration lock) and passes
that connection in `config.attributes["connection"]`; there is no alembic.ini and no offline mode.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from custodian.ledger.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError("ledger migrations run only through custodian.ledger.Ledger.open (online, on its connection)")

context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
