"""Who holds a lease: a process named in the lease row, and whether it surely ended (same host only).

`Holder.encode()` is `<label>:<pid>:<random>@<host>#<boot id>.<process start>[+session]`. On the
host it names (the same host name), a holder is gone when its pid is dead, a zombie, or reused since
(another start time in /proc, or another boot); on another host nothing is known here (`+session`:
the database can tell, see `custodian.ledger.locks`), else only the lease's expiry tells. Without
/proc (not Linux), only `kill(pid, 0)` is asked.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import Connection, Engine, text

_SESSION: Final = "+session"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process, from /proc; None if unknown."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: a label (a run id, a replica id), its process and a random part."""

    label: str
    pid: int
    host: str
    start: str  # `<boot id>.<start ticks>` ("" when unknown): tells a pid reused since
    nonce: str
    session: bool = False  # it holds a database session lock while it lives (PostgreSQL: see `locks`)

    @classmethod
    def this_process(cls, label: str, *, session: bool = False) -> Holder:
        stat = _stat(os.getpid())
        start = f"{_boot_id()}.{stat[1]}" if stat is not None else ""
        return cls(label[:120], os.getpid(), socket.gethostname()[:64], start, secrets.token_hex(3), session)

    def encode(self) -> str:
        return f"{self.label}:{self.pid}:{self.nonce}@{self.host}#{self.start}{_SESSION if self.session else ''}"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The holder a lease row names; None for a name of another form (written by hand, older)."""
        session = text.endswith(_SESSION)
        body, sep, start = text.removesuffix(_SESSION).rpartition("#")
        who, at, host = body.rpartition("@")
        parts = who.rsplit(":", 2)
        if not sep or not at or len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), host, start, parts[2], session)

    def gone(self) -> bool:
        """Whether this holder's process surely ended: same host, and its pid dead, a zombie or reused."""
        if self.host != socket.gethostname()[:64]:
            return False  # another host: only the lease's expiry tells
        boot, _, ticks = self.start.partition(".")
        if boot and _boot_id() and boot != _boot_id():
            return True  # the host restarted since
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # it exists (another user's)
        stat = _stat(self.pid)
        if stat is None:
            return False
        return stat[0] in ("Z", "X") or bool(ticks and stat[1] != ticks)


class SessionLock:
    """A PostgreSQL session advisory lock named after a lease holder, on a connection of its own.

    The holder takes it before the lease row and keeps it while it lives; PostgreSQL drops it the
    moment that connection ends (its process killed, wherever it ran). Another process that can take
    the same lock knows the holder is gone, without waiting for the lease's expiry.
    """

    _TRY: Final = text("SELECT pg_try_advisory_lock(:key, hashtext(current_schema() || '/' || :holder))")
    _UNLOCK: Final = text("SELECT pg_advisory_unlock(:key, hashtext(current_schema() || '/' || :holder))")
    KEY: Final = 0x5C0DA991  # first key of the two-key advisory lock (an int4)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._held: tuple[Connection, str] | None = None

    def hold(self, holder: str) -> None:
        connection = self._engine.connect()
        got = connection.execute(self._TRY, {"key": self.KEY, "holder": holder}).scalar()
        connection.commit()
        if not got:  # pragma: no cover - the name holds a random part: nobody else has it
            connection.close()
            raise RuntimeError(f"the session lock of {holder} is already held")
        self._held = (connection, holder)

    def holder_gone(self, holder: str) -> bool:
        """Whether nobody holds `holder`'s session lock (its connection, hence its process, ended)."""
        with self._engine.connect() as connection:
            got = bool(connection.execute(self._TRY, {"key": self.KEY, "holder": holder}).scalar())
            if got:
                connection.execute(self._UNLOCK, {"key": self.KEY, "holder": holder})
            connection.commit()
        return got

    def release(self) -> None:
        if self._held is not None:
            connection, holder = self._held
            self._held = None
            try:
                connection.execute(self._UNLOCK, {"key": self.KEY, "holder": holder})
                connection.commit()
            finally:
                connection.close()
