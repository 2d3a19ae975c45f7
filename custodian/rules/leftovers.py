"""Which versions are done with QA/UAT: the input of rule L4 (pure; time passed in).

A version is complete once its first successful production deployment is `grace` old; from then
on nothing created by its non-production stages may remain.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from custodian.model import ReleaseTimeline


def completed_versions(timeline: ReleaseTimeline, grace: timedelta, now: datetime) -> list[str]:
    """Versions whose production success is at least `grace` before `now`, sorted."""
    done = []
    for version in timeline.versions():
        deployment = timeline.prod_success(version)
        success = deployment.first_success_at if deployment is not None else None
        if success is not None and success + grace <= now:
            done.append(version)
    return sorted(done)


def leftover_stages(timeline: ReleaseTimeline) -> list[str]:
    """The stages whose resources are leftovers once a version is in production (all but the last)."""
    return list(timeline.stages[:-1])
