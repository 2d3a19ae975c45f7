"""Opening the ledger: a bad URL or a file that is not SQLite is bad input (exit 2); the files are owner-only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from custodian.cli import main
from custodian.ledger.store import Ledger, LedgerInputError

GOOD_BASE = Path(__file__).resolve().parents[1] / "config" / "good_base.yaml"


@pytest.fixture()
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def config_with_ledger(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD_BASE.read_text() + f"ledger: {{url: '{url}'}}\n", encoding="utf-8")
    return path


def test_a_garbage_sqlite_file_is_bad_input_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "ledger.sqlite"
    garbage.write_bytes(b"this is not a database " * 100)
    before = garbage.read_bytes()
    with pytest.raises(LedgerInputError, match="file is not a database"):
        Ledger.open(f"sqlite:///{garbage}")
    assert main(["hold", "list", "-c", str(config_with_ledger(tmp_path, f"sqlite:///{garbage}"))]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"error: cannot open the ledger sqlite:///{garbage}: file is not a database" in err
    assert "internal error" not in err
    assert garbage.read_bytes() == before
    assert not (tmp_path / "ledger.sqlite-wal").exists()


def test_an_unreachable_postgresql_url_is_bad_input_with_the_cause_and_no_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+psycopg://custodian:canary-s3cret@127.0.0.1:1/ledger"  # port 1: nothing listens
    assert main(["hold", "list", "-c", str(config_with_ledger(tmp_path, url))]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "error: cannot open the ledger postgresql+psycopg://custodian:***@127.0.0.1:1/ledger:" in err
    assert "Connection refused" in err
    assert "canary-s3cret" not in err and "internal error" not in err


def test_a_ledger_path_that_cannot_be_created_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(LedgerInputError, match="cannot create the ledger file"):
        Ledger.open(f"sqlite:///{tmp_path / 'file' / 'ledger.sqlite'}")


@pytest.mark.usefixtures("permissive_umask")
def test_the_sqlite_ledger_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    database = existing / "state" / "nested" / "ledger.sqlite"
    with Ledger.open(f"sqlite:///{database}") as ledger:
        assert ledger.list_holds(True, datetime.now(UTC)) == []  # a read while open: -wal and -shm exist
        companions = [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in companions)
        assert {p.name: mode(p) for p in (database, *companions)} == {
            "ledger.sqlite": 0o600,
            "ledger.sqlite-wal": 0o600,
            "ledger.sqlite-shm": 0o600,
        }
    assert mode(existing / "state") == 0o700 and mode(existing / "state" / "nested") == 0o700
    assert mode(existing) == 0o755  # a directory that existed is left as it was
