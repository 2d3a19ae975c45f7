"""When a job is due: cron expressions and fixed intervals, as slots (pure; no clock, no APScheduler).

A *slot* is one scheduled instant of a job, a timezone-aware UTC datetime. The scheduler runs each
slot at most once (the run ledger's key is `(job id, slot)`), so every replica and every restart
must compute the very same slots: they depend only on the expression, the timezone and, for an
interval, a fixed anchor (the Unix epoch unless configured), never on when a process started.

Cron follows crontab(5) (Vixie cron), not APScheduler 3's `CronTrigger.from_crontab`:

- five fields `minute hour day-of-month month day-of-week`; `*`, `a`, `a-b`, `*/n`, `a-b/n`,
  `a/n` (from a to the end) and comma lists; month names `jan`..`dec`, weekday names `sun`..`sat`;
- day-of-week `0` and `7` are Sunday (APScheduler 3 reads `0` as Monday; see its issue 286);
- when both day-of-month and day-of-week are restricted (neither starts with `*`) a day matches if
  *either* matches, as in crontab;
- macros `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly` (`@annually`);
- times are wall-clock times in the job's timezone: a time that does not exist on a day (the hour
  skipped when DST starts) has no slot that day; a time that occurs twice (DST end) has one slot,
  at its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SEARCH_DAYS: Final = 366 * 8 + 2  # Feb 29 on a given weekday recurs within 28 years; 8 covers leap days
_MACROS: Final = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTHS: Final = {
    name: i + 1
    for i, name in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
}
_WEEKDAYS: Final = {name: i for i, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_TERM: Final = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


class CadenceError(ValueError):
    """A cron expression, interval or timezone is invalid (the message says why)."""


class Cadence(Protocol):
    """The slots of a job."""

    def next_after(self, moment: datetime) -> datetime | None:
        """The first slot strictly after `moment`, or None if there is none."""
        ...

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last slot at or before `moment`, or None if there is none."""
        ...

    def describe(self) -> str: ...


def zone(name: str) -> tzinfo:
    """A timezone by IANA name (`UTC`, `Europe/Paris`)."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CadenceError(f"unknown timezone {name!r} (use an IANA name such as UTC or Europe/Paris)") from exc


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass a timezone-aware time")
    return moment.astimezone(UTC)


# -- cron ------------------------------------------------------------------------------------------


def _number(text: str, names: dict[str, int], low: int, high: int, what: str) -> int:
    value = names.get(text) if text.isalpha() else (int(text) if text.isdigit() else None)
    if value is None:
        raise CadenceError(f"{what}: {text!r} is not a number or name")
    if not low <= value <= high:
        raise CadenceError(f"{what}: {value} is outside {low}-{high}")
    return value


def _field(text: str, low: int, high: int, what: str, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for term in text.split(","):
        match = _TERM.match(term)
        if not match:
            raise CadenceError(f"{what}: cannot read {term!r}")
        span, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise CadenceError(f"{what}: step must be at least 1 in {term!r}")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, b = span.split("-")
            first, last = _number(a, names or {}, low, high, what), _number(b, names or {}, low, high, what)
            if first > last:
                raise CadenceError(f"{what}: range {term!r} runs backwards")
        else:
            first = _number(span, names or {}, low, high, what)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronCadence:
    """Slots of a crontab expression in a timezone (see the module docstring for the dialect)."""

    expression: str
    timezone: str = "UTC"
    minutes: tuple[int, ...] = field(init=False, repr=False)
    hours: tuple[int, ...] = field(init=False, repr=False)
    days: frozenset[int] = field(init=False, repr=False)
    months: frozenset[int] = field(init=False, repr=False)
    weekdays: frozenset[int] = field(init=False, repr=False)  # 0 = Sunday
    day_restricted: bool = field(init=False, repr=False)
    weekday_restricted: bool = field(init=False, repr=False)
    tz: tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = " ".join(self.expression.lower().split())
        text = _MACROS.get(text, text)
        if text.startswith("@"):
            raise CadenceError(f"unknown cron macro {self.expression!r} (known: {', '.join(_MACROS)})")
        parts = text.split(" ")
        if len(parts) != 5:
            raise CadenceError(
                f"cron expression {self.expression!r} has {len(parts)} field(s); "
                "expected 5: minute hour day-of-month month day-of-week"
            )
        minute, hour, day, month, weekday = parts
        set_ = object.__setattr__
        set_(self, "minutes", tuple(sorted(_field(minute, 0, 59, "minute"))))
        set_(self, "hours", tuple(sorted(_field(hour, 0, 23, "hour"))))
        set_(self, "days", _field(day, 1, 31, "day-of-month"))
        set_(self, "months", _field(month, 1, 12, "month", _MONTHS))
        set_(self, "weekdays", frozenset(d % 7 for d in _field(weekday, 0, 7, "day-of-week", _WEEKDAYS)))
        set_(self, "day_restricted", not day.startswith("*"))
        set_(self, "weekday_restricted", not weekday.startswith("*"))
        set_(self, "tz", zone(self.timezone))
        if not any(d <= _MONTH_DAYS[m] for m in self.months for d in self.days) and not self.weekday_restricted:
            raise CadenceError(f"cron expression {self.expression!r} never matches a real date")

    def describe(self) -> str:
        return f"cron {self.expression!r} ({self.timezone})"

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return dom or dow
        return dom and dow

    def _instant(self, day: date, hour: int, minute: int) -> datetime | None:
        """The UTC instant of a local wall time, or None when DST skips it."""
        local = datetime.combine(day, time(hour, minute), tzinfo=self.tz)
        utc = local.astimezone(UTC)
        if utc.astimezone(self.tz).replace(tzinfo=None) != local.replace(tzinfo=None):
            return None
        return utc

    def _day_slots(self, day: date, reverse: bool) -> Iterator[datetime]:
        hours = reversed(self.hours) if reverse else iter(self.hours)
        for hour in hours:
            for minute in reversed(self.minutes) if reverse else self.minutes:
                instant = self._instant(day, hour, minute)
                if instant is not None:
                    yield instant

    def next_after(self, moment: datetime) -> datetime | None:
        moment = _aware(moment)
        start = moment.astimezone(self.tz).date() - timedelta(days=1)  # a DST shift can move a slot a day
        for offset in range(_SEARCH_DAYS):
            day = start + timedelta(days=offset)
            if self._day_matches(day):
                for instant in self._day_slots(day, reverse=False):
                    if instant > moment:
                        return instant
        return None

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        moment = _aware(moment)
        start = moment.astimezone(self.tz).date() + timedelta(days=1)
        for offset in range(_SEARCH_DAYS):
            day = start - timedelta(days=offset)
            if self._day_matches(day):
                for instant in self._day_slots(day, reverse=True):
                    if instant <= moment:
                        return instant
        return None


_MONTH_DAYS: Final = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


# -- intervals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntervalCadence:
    """Slots every `every`, aligned on `anchor` (default the Unix epoch): anchor + k * every, k >= 0."""

    every: timedelta
    anchor: datetime = EPOCH

    def __post_init__(self) -> None:
        if self.every <= timedelta(0):
            raise CadenceError("an interval must be positive")
        object.__setattr__(self, "anchor", _aware(self.anchor))

    def describe(self) -> str:
        seconds = int(self.every.total_seconds())
        return f"every {seconds}s" + ("" if self.anchor == EPOCH else f" from {self.anchor.isoformat()}")

    def next_after(self, moment: datetime) -> datetime | None:
        moment = _aware(moment)
        if moment < self.anchor:
            return self.anchor
        return self.anchor + ((moment - self.anchor) // self.every + 1) * self.every

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        moment = _aware(moment)
        if moment < self.anchor:
            return None
        return self.anchor + ((moment - self.anchor) // self.every) * self.every


# -- helpers ---------------------------------------------------------------------------------------


def slots_between(cadence: Cadence, after: datetime, before: datetime, limit: int) -> tuple[list[datetime], bool]:
    """The slots strictly between `after` and `before`, oldest first, at most the `limit` latest.

    Returns (slots, truncated): `truncated` says older slots were left out to respect `limit`.
    """
    after, before = _aware(after), _aware(before)
    if before <= after:
        return [], False
    out: list[datetime] = []
    cursor = cadence.latest_at_or_before(before - timedelta(microseconds=1))
    while cursor is not None and cursor > after:
        if len(out) == limit:
            return list(reversed(out)), True
        out.append(cursor)
        cursor = cadence.latest_at_or_before(cursor - timedelta(microseconds=1))
    return list(reversed(out)), False


def cadence_for(cron: str | None, interval: timedelta | None, timezone: str, anchor: datetime | None = None) -> Cadence:
    """The cadence of a job configured with exactly one of `cron` and `interval`."""
    if (cron is None) == (interval is None):
        raise CadenceError("give exactly one of 'cron' (an expression) or 'interval' (a duration)")
    if cron is not None:
        return CronCadence(cron, timezone)
    assert interval is not None
    zone(timezone)  # validated even though intervals do not depend on it
    return IntervalCadence(interval, anchor or EPOCH)
