"""Slots: crontab semantics (0 = Sunday, day-of-month OR day-of-week), DST, intervals on the epoch,
and agreement with APScheduler's own CronTrigger where the two dialects mean the same thing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from custodian.cadence import CadenceError, CronCadence, IntervalCadence, cadence_for, slots_between


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_hourly_next_and_latest() -> None:
    hourly = CronCadence("0 * * * *")
    assert hourly.next_after(at("2025-03-03T10:00:00")) == at("2025-03-03T11:00:00")
    assert hourly.next_after(at("2025-03-03T10:59:59")) == at("2025-03-03T11:00:00")
    assert hourly.latest_at_or_before(at("2025-03-03T10:00:00")) == at("2025-03-03T10:00:00")
    assert hourly.latest_at_or_before(at("2025-03-03T10:59:59")) == at("2025-03-03T10:00:00")


def test_weekday_zero_and_seven_are_sunday_unlike_apscheduler_from_crontab() -> None:
    sunday = at("2025-03-09T00:00:00")
    assert CronCadence("0 0 * * 0").next_after(at("2025-03-03T00:00:00")) == sunday
    assert CronCadence("0 0 * * 7").next_after(at("2025-03-03T00:00:00")) == sunday
    assert CronCadence("0 0 * * sun").next_after(at("2025-03-03T00:00:00")) == sunday
    aps = CronTrigger.from_crontab("0 0 * * 0", timezone=UTC).get_next_fire_time(None, at("2025-03-03T00:00:01"))
    assert aps.weekday() == 0  # APScheduler 3 reads 0 as Monday: the reason slots are computed here


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # crontab: the 15th of the month OR any Friday
    cadence = CronCadence("0 9 15 * fri")
    slots = []
    cursor = at("2025-03-01T00:00:00")
    for _ in range(4):
        cursor = cadence.next_after(cursor)  # type: ignore[assignment]
        slots.append(cursor.date().isoformat())
    assert slots == ["2025-03-07", "2025-03-14", "2025-03-15", "2025-03-21"]


def test_macros_steps_ranges_and_names() -> None:
    assert CronCadence("@daily").next_after(at("2025-03-03T10:00:00")) == at("2025-03-04T00:00:00")
    assert CronCadence("*/15 * * * *").next_after(at("2025-03-03T10:07:00")) == at("2025-03-03T10:15:00")
    assert CronCadence("10-20/5 8 * * mon-fri").next_after(at("2025-03-08T00:00:00")) == at("2025-03-10T08:10:00")
    assert CronCadence("0 0 1 jan,jul *").next_after(at("2025-03-03T00:00:00")) == at("2025-07-01T00:00:00")
    assert CronCadence("0 0 29 2 *").next_after(at("2025-03-03T00:00:00")) == at("2028-02-29T00:00:00")


def test_daylight_saving_time_in_a_named_zone() -> None:
    paris = CronCadence("30 2 * * *", "Europe/Paris")
    # 2025-03-30 02:30 does not exist in Paris: no slot that day
    assert paris.next_after(at("2025-03-29T02:00:00")) == at("2025-03-31T00:30:00")
    # 2025-10-26 02:30 happens twice: one slot, at the first occurrence (00:30 UTC)
    assert paris.next_after(at("2025-10-25T12:00:00")) == at("2025-10-26T00:30:00")
    assert paris.next_after(at("2025-10-26T00:30:00")) == at("2025-10-27T01:30:00")


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("* * *", "expected 5"),
        ("60 * * * *", "outside 0-59"),
        ("0 0 31 2 *", "never matches"),
        ("5-1 * * * *", "backwards"),
        ("*/0 * * * *", "at least 1"),
        ("@often", "unknown cron macro"),
        ("0 0 * * funday", "not a number or name"),
    ],
)
def test_bad_cron_expressions_say_why(expression: str, problem: str) -> None:
    with pytest.raises(CadenceError, match=problem):
        CronCadence(expression)


def test_unknown_timezone_and_both_or_neither_cadence() -> None:
    with pytest.raises(CadenceError, match="unknown timezone"):
        CronCadence("0 * * * *", "Mars/Olympus")
    with pytest.raises(CadenceError, match="exactly one"):
        cadence_for("0 * * * *", timedelta(hours=1), "UTC")
    with pytest.raises(CadenceError, match="exactly one"):
        cadence_for(None, None, "UTC")


def test_interval_slots_are_aligned_on_the_epoch_so_every_replica_agrees() -> None:
    quarter = IntervalCadence(timedelta(minutes=15))
    assert quarter.latest_at_or_before(at("2025-03-03T10:07:30")) == at("2025-03-03T10:00:00")
    assert quarter.next_after(at("2025-03-03T10:07:30")) == at("2025-03-03T10:15:00")
    assert quarter.next_after(at("2025-03-03T10:15:00")) == at("2025-03-03T10:30:00")
    anchored = IntervalCadence(timedelta(hours=1), at("2025-03-03T10:20:00"))
    assert anchored.latest_at_or_before(at("2025-03-03T10:00:00")) is None
    assert anchored.next_after(at("2025-03-03T10:00:00")) == at("2025-03-03T10:20:00")


def test_slots_between_is_exclusive_and_keeps_the_latest_when_limited() -> None:
    hourly = CronCadence("0 * * * *")
    slots, truncated = slots_between(hourly, at("2025-03-03T10:00:00"), at("2025-03-03T14:00:00"), 10)
    assert slots == [at("2025-03-03T11:00:00"), at("2025-03-03T12:00:00"), at("2025-03-03T13:00:00")]
    assert not truncated
    slots, truncated = slots_between(hourly, at("2025-03-03T10:00:00"), at("2025-03-03T14:00:00"), 2)
    assert slots == [at("2025-03-03T12:00:00"), at("2025-03-03T13:00:00")] and truncated


_minute = st.sampled_from(["0", "*/5", "15,45", "0-30/10", "7"])
_hour = st.sampled_from(["*", "0", "*/6", "9-17", "2,14"])
_day = st.sampled_from(["*", "1", "1-10", "*/7"])
_month = st.sampled_from(["*", "1-6", "*/2", "3,9"])
_weekday = st.sampled_from(["*", "mon-fri", "sat,sun", "wed"])  # names: both dialects agree on them


@settings(max_examples=150, deadline=None)
@given(
    _minute, _hour, _day, _month, _weekday, st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1))
)
def test_agrees_with_apscheduler_cron_trigger_where_the_dialects_agree(
    minute: str, hour: str, day: str, month: str, weekday: str, start: datetime
) -> None:
    if day != "*" and weekday != "*":
        return  # crontab ORs the two fields, APScheduler ANDs them (tested above)
    moment = start.replace(tzinfo=UTC, microsecond=0)
    ours = CronCadence(f"{minute} {hour} {day} {month} {weekday}")
    theirs = CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=UTC)
    expected = theirs.get_next_fire_time(None, moment + timedelta(seconds=1))
    assert ours.next_after(moment) == expected
