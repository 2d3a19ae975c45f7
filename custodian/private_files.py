"""Owner-only files and directories: what the custodian writes is readable by its own user only.

The ledger (and SQLite's `-wal`/`-shm` beside it), reports, the policies rendered for a run and
Cloud Custodian's output hold inventory, findings and journal snapshots: they are created 0600
(files) and 0700 (directories) whatever the process umask is. Modes are set with `chmod` after
creation, since `open`/`mkdir` modes are only an upper bound that the umask narrows. Directories
that already exist (a `reports/` someone made) are left as they are; only those created here are
made owner-only.

SQLite creates its `-wal` and `-shm` files with the permissions of the database file (its unix VFS
copies the main file's mode), so a database file created 0600 gives 0600 companions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

FILE_MODE: Final = 0o600
DIRECTORY_MODE: Final = 0o700
#: the umask for child processes (Cloud Custodian) whose files must be owner-only too
CHILD_UMASK: Final = 0o077


def make_private_dirs(directory: Path) -> Path:
    """Create `directory` and its missing parents, each new one 0700; existing ones are untouched."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:  # made meanwhile by another process: not ours to change
            continue
        os.chmod(path, DIRECTORY_MODE)
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    return directory


def open_private(path: Path, flags: int) -> int:
    """`os.open(path, flags | O_CREAT, 0o600)`; a file it creates is made exactly 0600."""
    existed = path.exists()
    fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    if not existed:
        try:
            os.fchmod(fd, FILE_MODE)
        except BaseException:
            os.close(fd)
            raise
    return fd


def create_private_file(path: Path) -> None:
    """Create `path` empty and 0600 when it does not exist (its directory too); an existing file is kept."""
    make_private_dirs(path.parent)
    os.close(open_private(path, os.O_RDWR))


def write_private_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path`, created 0600 (directories 0700) when new."""
    make_private_dirs(path.parent)
    fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
