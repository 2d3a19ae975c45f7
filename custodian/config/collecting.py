"""The `collect` section: when a listing that shrank since its last complete reading is read again.

A list page cut short without its next link looks like the end of the list; the run compares each
listing of accounts, tokens and tags with its size the last time it was complete, and reads it a
second time when it shrank by at least `shrink_minimum` objects and by more than `shrink_tolerance`
of that size (both readings must agree, else a COLLECT ERROR blocks the scope). The defaults read
every shrink twice: a second listing costs little (GitHub answers unchanged pages with a free 304).
"""

from __future__ import annotations

from pydantic import Field

from custodian.config.values import Strict


class CollectConfig(Strict):
    shrink_tolerance: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="a listing smaller than its last complete size by more than this fraction is read again "
        "(0: any shrink)",
    )
    shrink_minimum: int = Field(
        default=1,
        ge=1,
        le=1_000_000,
        description="... and by at least this many objects (1: any shrink)",
    )
