"""`python scheduler.py`, for the process-level tests: the same entry point, with the test-only job kinds' bodies."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: `scheduler` and `tests`

import scheduler
from tests.service.job_bodies import TEST_JOB_BODIES

if __name__ == "__main__":
    raise SystemExit(scheduler.main(bodies=TEST_JOB_BODIES))
