"""c7n children die with their parent and are bounded in time on the wire.

`run_child` starts the child in its own process group with a parent-death signal (Linux) and kills
the group on timeout; the launcher's `--http-timeout` bounds every `requests` call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from custodian.collect.c7n.child import parent_death_signal, run_child
from custodian.collect.c7n.launcher import _bounded, _http_timeout

LINUX = sys.platform.startswith("linux")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(path: Path) -> int:
    deadline = time.monotonic() + 20
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.05)
    return int(path.read_text().strip())


@pytest.mark.skipif(not LINUX, reason="PR_SET_PDEATHSIG and /proc are Linux")
def test_a_child_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    assert parent_death_signal() is not None
    pid_file = tmp_path / "child.pid"
    child_code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    parent_code = (
        "import sys\n"
        "from custodian.collect.c7n.child import run_child\n"
        f"run_child([sys.executable, '-c', {child_code!r}], {{}}, 60, cwd=None)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        child = _wait_for(pid_file)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the child outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_a_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(g.pid))\n"
        "time.sleep(60)\n"
    )
    outcome = run_child([sys.executable, "-c", code], {}, 2, cwd=None)
    assert outcome.timed_out and outcome.exit_code is None
    grandchild = _wait_for(pid_file)
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_http_timeouts_are_bounded_never_lengthened() -> None:
    assert _bounded(None, (1.0, 2.0)) == (1.0, 2.0)
    assert _bounded((300, 300), (1.0, 2.0)) == (1.0, 2.0)  # azure-core's defaults, cut down
    assert _bounded(0.5, (1.0, 2.0)) == (0.5, 0.5)
    assert _http_timeout("10,60") == (10.0, 60.0) and _http_timeout("5") == (5.0, 5.0) and _http_timeout(None) is None
    with pytest.raises(ValueError):
        _http_timeout("0,1")
