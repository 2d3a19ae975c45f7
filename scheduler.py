"""Composition root of the scheduled custodian service (APScheduler lives only here).

The scheduler is not built yet (see the issue "Scheduler: scheduler.py on APScheduler 3.x ...").
Until it is, running this file explains that and exits with status 1 instead of pretending to work.
"""

from __future__ import annotations

import sys


def main() -> int:
    print(
        "release-custodian scheduler: not available yet in this version; "
        "run `release-custodian --help` for what is available.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
