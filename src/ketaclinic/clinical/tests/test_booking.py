"""Booking rules: double booking, opening and working hours, telehealth licensure, series."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.clinical.booking import (
    US_STATES,
    Booking,
    BookingError,
    Interval,
    License,
    Problem,
    Refusal,
    Request,
    WeeklyHours,
    check_booking,
    check_series,
)
from ketaclinic.clinical.schedule import ScheduleRules, plan_session_starts

DENVER = "America/Denver"
PHOENIX = "America/Phoenix"
BOISE = "America/Boise"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
MONDAY = date(2026, 3, 2)
DST_START = date(2026, 3, 8)  # Sunday: US clocks go forward
DST_END = date(2026, 11, 1)  # Sunday: US clocks go back
WEEKDAYS = (0, 1, 2, 3, 4)
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


def at(day: date, hour: int, minute: int = 0, tz: str = DENVER) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(tz))


def local(day: date, start: tuple[int, int], end: tuple[int, int], tz: str = DENVER) -> Interval:
    return Interval(at(day, *start, tz=tz), at(day, *end, tz=tz))


def hours(
    tz: str = DENVER,
    open_: time = time(8),
    close: time = time(17),
    weekdays: tuple[int, ...] = WEEKDAYS,
    closed: frozenset[date] = frozenset(),
) -> WeeklyHours:
    return WeeklyHours(tz=tz, days={d: ((open_, close),) for d in weekdays}, closed_dates=closed)


def check(request: Request, **kwargs: object) -> list[Refusal]:
    arguments: dict[str, object] = {
        "existing": (),
        "opening_hours": None,
        "working_hours": None,
        "now": NOW,
    }
    arguments.update(kwargs)
    return check_booking(request, **arguments)  # type: ignore[arg-type]


def problems(refusals: list[Refusal]) -> list[Problem]:
    return [refusal.problem for refusal in refusals]


# --- intervals -------------------------------------------------------------------------


def test_interval_needs_aware_times_and_positive_length() -> None:
    with pytest.raises(BookingError, match="timezone-aware"):
        Interval(datetime(2026, 3, 2, 8), datetime(2026, 3, 2, 9))
    with pytest.raises(ValueError, match="end after it starts"):
        local(MONDAY, (10, 0), (10, 0))
    with pytest.raises(ValueError, match="end after it starts"):
        local(MONDAY, (10, 0), (9, 0))


def test_overlap_is_half_open_and_zone_independent() -> None:
    denver = local(MONDAY, (8, 0), (10, 0))  # 15:00-17:00 UTC
    assert denver.overlaps(Interval(at(MONDAY, 16, tz="UTC"), at(MONDAY, 18, tz="UTC")))
    assert not denver.overlaps(Interval(at(MONDAY, 17, tz="UTC"), at(MONDAY, 18, tz="UTC")))
    assert not denver.overlaps(local(MONDAY, (10, 0), (11, 0)))  # back-to-back
    assert denver.overlaps(local(MONDAY, (9, 59), (11, 0)))


def test_overlap_in_the_repeated_fall_back_hour_uses_real_instants() -> None:
    zone = ZoneInfo(DENVER)
    first = Interval(
        datetime(2026, 11, 1, 1, 15, tzinfo=zone), datetime(2026, 11, 1, 1, 45, tzinfo=zone)
    )
    second = Interval(
        datetime(2026, 11, 1, 1, 15, fold=1, tzinfo=zone),
        datetime(2026, 11, 1, 1, 45, fold=1, tzinfo=zone),
    )
    # Same wall clock, an hour apart in reality (MDT then MST).
    assert not first.overlaps(second)
    assert first.overlaps(first)


# --- double booking --------------------------------------------------------------------

EXISTING = Booking(local(MONDAY, (9, 0), (11, 0)), patient_id=2, provider_id=20, chair_id=3)


def test_chair_taken_names_the_chair_and_local_time() -> None:
    request = Request(local(MONDAY, (8, 0), (10, 0)), patient_id=1, provider_id=10, chair_id=3)
    refusals = check(request, existing=[EXISTING])
    assert problems(refusals) == [Problem.CHAIR_TAKEN]
    assert "Chair 3" in refusals[0].message
    assert "Mon 2 Mar 2026 09:00-11:00 MST" in refusals[0].message
    assert refusals[0].when == request.interval


def test_provider_busy_names_the_provider_and_local_time() -> None:
    request = Request(local(MONDAY, (10, 30), (12, 0)), patient_id=1, provider_id=20, chair_id=4)
    refusals = check(request, existing=[EXISTING], provider_name="Dr Rivera")
    assert problems(refusals) == [Problem.PROVIDER_BUSY]
    assert refusals[0].message.startswith("Dr Rivera is already booked Mon 2 Mar 2026 09:00-11:00")


def test_patient_busy_names_the_patient_and_local_time() -> None:
    # The request is written in UTC; the message speaks the clinic's local time.
    request = Request(
        Interval(at(MONDAY, 17, tz="UTC"), at(MONDAY, 18, tz="UTC")),
        patient_id=2,
        provider_id=None,
        chair_id=None,
    )
    refusals = check(request, existing=[EXISTING], opening_hours=hours())
    assert problems(refusals) == [Problem.PATIENT_BUSY]
    assert "Patient 2" in refusals[0].message
    assert "Mon 2 Mar 2026 09:00-11:00 MST" in refusals[0].message
    assert "10:00-11:00 MST" in refusals[0].message  # the request, in Denver time


def test_support_beside_the_patients_own_chair_visit_is_not_a_double_booking() -> None:
    # EXISTING: patient 2 in chair 3, 09:00-11:00. Their therapist sits with them.
    support = Request(
        local(MONDAY, (9, 0), (11, 0)), patient_id=2, provider_id=40, chair_id=None,
        accompanies=True,
    )  # fmt: skip
    assert check(support, existing=[EXISTING]) == []
    # Not beside another visit that takes no chair or room, nor for another patient's.
    video = Booking(local(MONDAY, (9, 0), (10, 0)), patient_id=2, provider_id=50, chair_id=None)
    assert problems(check(support, existing=[video])) == [Problem.PATIENT_BUSY]
    # Once booked, the support visit does not keep the chair visit from being booked.
    beside = Booking(support.interval, patient_id=2, provider_id=40, chair_id=None,
                     accompanies=True)  # fmt: skip
    chair_visit = Request(local(MONDAY, (9, 0), (11, 0)), patient_id=2, provider_id=None,
                          chair_id=4)  # fmt: skip
    assert check(chair_visit, existing=[beside]) == []
    # An ordinary visit at the same time is still a double booking.
    plain = Request(local(MONDAY, (9, 0), (11, 0)), patient_id=2, provider_id=40, chair_id=None)
    assert problems(check(plain, existing=[EXISTING])) == [Problem.PATIENT_BUSY]


def test_every_collision_is_reported() -> None:
    request = Request(local(MONDAY, (10, 0), (12, 0)), patient_id=2, provider_id=20, chair_id=3)
    assert problems(check(request, existing=[EXISTING])) == [
        Problem.CHAIR_TAKEN,
        Problem.PROVIDER_BUSY,
        Problem.PATIENT_BUSY,
    ]


def test_back_to_back_is_fine() -> None:
    before = Request(local(MONDAY, (7, 0), (9, 0)), patient_id=2, provider_id=20, chair_id=3)
    after = Request(local(MONDAY, (11, 0), (13, 0)), patient_id=2, provider_id=20, chair_id=3)
    assert check(before, existing=[EXISTING]) == []
    assert check(after, existing=[EXISTING]) == []


def test_no_chair_or_provider_never_collides_on_them() -> None:
    free = Booking(local(MONDAY, (9, 0), (11, 0)), patient_id=2, provider_id=None, chair_id=None)
    request = Request(local(MONDAY, (9, 0), (11, 0)), patient_id=1, provider_id=None, chair_id=None)
    assert check(request, existing=[free]) == []


def test_in_the_past() -> None:
    request = Request(local(MONDAY, (9, 0), (10, 0)), patient_id=1, provider_id=None, chair_id=None)
    refusals = check(request, now=at(MONDAY, 9, 30))
    assert problems(refusals) == [Problem.IN_THE_PAST]
    assert "Mon 2 Mar 2026 09:30 MST" in refusals[0].message
    assert check(request, now=at(MONDAY, 9, 0)) == []
    with pytest.raises(BookingError, match="now must be"):
        check(request, now=datetime(2026, 1, 1))


# --- opening hours across zones and daylight-saving changes ------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "utc_hour"),
    [
        (DENVER, DST_START, 14),  # 08:00 MDT
        (DENVER, DST_END, 15),  # 08:00 MST
        (BOISE, DST_START, 14),
        (BOISE, DST_END, 15),
        (PHOENIX, DST_START, 15),  # Arizona keeps MST all year
        (PHOENIX, DST_END, 15),
    ],
)
def test_local_opening_hours_on_daylight_saving_sundays(tz: str, day: date, utc_hour: int) -> None:
    opening = hours(tz, weekdays=EVERY_DAY)
    inside = local(day, (8, 0), (10, 0), tz)
    assert inside.start.astimezone(UTC).hour == utc_hour
    assert opening.contains(inside)
    # The same visit given in UTC is judged by the clinic's local wall clock.
    utc_start = datetime.combine(day, time(utc_hour), tzinfo=UTC)
    as_utc = Interval(utc_start, utc_start + timedelta(hours=2))
    assert opening.contains(as_utc)
    early = Interval(utc_start - timedelta(hours=1), utc_start + timedelta(hours=1))
    assert not opening.contains(early)
    request = Request(inside, patient_id=1, provider_id=None, chair_id=1)
    assert check(request, opening_hours=opening) == []
    late = Request(local(day, (16, 0), (18, 0), tz), patient_id=1, provider_id=None, chair_id=1)
    refusals = check(late, opening_hours=opening)
    assert problems(refusals) == [Problem.OUTSIDE_OPENING_HOURS]
    assert "08:00-17:00" in refusals[0].message


def test_same_instant_open_in_denver_closed_in_phoenix_after_spring_forward() -> None:
    # 14:00 UTC on 8 Mar 2026 is 08:00 MDT in Denver but 07:00 MST in Phoenix.
    start = datetime(2026, 3, 8, 14, tzinfo=UTC)
    visit = Interval(start, start + timedelta(hours=2))
    assert hours(DENVER, weekdays=EVERY_DAY).contains(visit)
    assert not hours(PHOENIX, weekdays=EVERY_DAY).contains(visit)


def test_closing_time_is_local_on_the_fall_back_day() -> None:
    opening = hours(DENVER, weekdays=EVERY_DAY)
    assert opening.contains(local(DST_END, (15, 0), (17, 0)))
    assert not opening.contains(local(DST_END, (15, 0), (17, 1)))


def test_closed_dates_and_closed_weekdays_are_refused() -> None:
    christmas = date(2026, 12, 25)  # Friday
    opening = hours(closed=frozenset({christmas}))
    refusals = check(
        Request(local(christmas, (9, 0), (10, 0)), patient_id=1, provider_id=None, chair_id=1),
        opening_hours=opening,
    )
    assert problems(refusals) == [Problem.OUTSIDE_OPENING_HOURS]
    assert "Fri 25 Dec 2026" in refusals[0].message
    saturday = Request(
        local(date(2026, 3, 7), (9, 0), (10, 0)), patient_id=1, provider_id=None, chair_id=1
    )
    refusals = check(saturday, opening_hours=opening)
    assert problems(refusals) == [Problem.OUTSIDE_OPENING_HOURS]
    assert "closed on Saturdays" in refusals[0].message


def test_split_hours_and_midnight() -> None:
    opening = WeeklyHours(
        tz=DENVER,
        days={0: ((time(13), time(17)), (time(8), time(12)))},  # unsorted input is fine
    )
    assert opening.days[0] == ((time(8), time(12)), (time(13), time(17)))
    assert opening.contains(local(MONDAY, (8, 0), (12, 0)))
    assert opening.contains(local(MONDAY, (13, 0), (17, 0)))
    assert not opening.contains(local(MONDAY, (11, 0), (14, 0)))  # spans the lunch break
    late = WeeklyHours(tz=DENVER, days={d: ((time(0), time(23, 59)),) for d in EVERY_DAY})
    assert not late.contains(Interval(at(MONDAY, 23), at(MONDAY + timedelta(days=1), 0, 30)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tz": "Mars/Olympus", "days": {}}, "unknown time zone"),
        ({"tz": DENVER, "days": {7: ((time(8), time(9)),)}}, "weekday"),
        ({"tz": DENVER, "days": {0: ((time(9), time(8)),)}}, "close after open"),
        (
            {"tz": DENVER, "days": {0: ((time(8), time(12)), (time(11), time(13)))}},
            "overlap",
        ),
        ({"tz": DENVER, "days": {0: ((time(8), time(9), time(10)),)}}, "close after open"),
        ({"tz": DENVER, "days": {}, "closed_dates": frozenset({"2026-12-25"})}, "dates"),
    ],
)
def test_bad_weekly_hours(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(BookingError, match=message):
        WeeklyHours(**kwargs)  # type: ignore[arg-type]


def test_weekly_hours_are_hashable_and_immutable() -> None:
    days = {0: [(time(8), time(12))]}
    opening = WeeklyHours(tz=DENVER, days=days)
    days[0].append((time(13), time(14)))
    assert opening.days[0] == ((time(8), time(12)),)
    assert hash(opening) == hash(WeeklyHours(tz=DENVER, days={0: ((time(8), time(12)),)}))
    with pytest.raises(TypeError):
        opening.days[1] = ()  # type: ignore[index]


# --- working hours per provider --------------------------------------------------------


def test_working_hours_per_provider() -> None:
    opening = hours(open_=time(7), close=time(19))
    morning = WeeklyHours(tz=DENVER, days={0: ((time(8), time(12)),)})
    afternoon = WeeklyHours(tz=DENVER, days={0: ((time(13), time(17)),)})
    request = Request(local(MONDAY, (13, 0), (15, 0)), patient_id=1, provider_id=10, chair_id=1)
    refusals = check(
        request, opening_hours=opening, working_hours=morning, provider_name="Dr Morning"
    )
    assert problems(refusals) == [Problem.OUTSIDE_WORKING_HOURS]
    assert refusals[0].message.startswith("Dr Morning is not working at this location")
    assert "08:00-12:00" in refusals[0].message
    assert check(request, opening_hours=opening, working_hours=afternoon) == []


def test_opening_and_working_hours_both_reported() -> None:
    request = Request(
        local(date(2026, 3, 7), (9, 0), (10, 0)), patient_id=1, provider_id=10, chair_id=1
    )
    refusals = check(request, opening_hours=hours(), working_hours=hours())
    assert problems(refusals) == [Problem.OUTSIDE_OPENING_HOURS, Problem.OUTSIDE_WORKING_HOURS]


# --- telehealth licensure --------------------------------------------------------------

UTAH = License(state="UT", kind="MD", number="12345", expires_on=date(2027, 12, 31))


def telehealth(interval: Interval, state: str | None = "ID") -> Request:
    return Request(
        interval, patient_id=1, provider_id=10, chair_id=None, telehealth=True, patient_state=state
    )


def test_no_license_in_the_patients_state() -> None:
    refusals = check(
        telehealth(local(MONDAY, (9, 0), (9, 30))), licenses=[UTAH], provider_name="Dr X"
    )
    assert problems(refusals) == [Problem.NO_LICENSE]
    assert refusals[0].message == (
        "Dr X holds no active license in Idaho (ID) on Mon 2 Mar 2026: "
        "telehealth needs one in the patient's state."
    )
    assert check(telehealth(local(MONDAY, (9, 0), (9, 30)), "UT"), licenses=[UTAH]) == []


def test_license_valid_through_its_expiry_date() -> None:
    idaho = License(state="ID", kind="NP", number="NP-77", expires_on=MONDAY)
    assert check(telehealth(local(MONDAY, (16, 0), (16, 30))), licenses=[idaho]) == []
    tuesday = MONDAY + timedelta(days=1)
    refusals = check(
        telehealth(local(tuesday, (9, 0), (9, 30))), licenses=[idaho], provider_name="Dr X"
    )
    assert problems(refusals) == [Problem.LICENSE_EXPIRED]
    assert "Idaho (ID)" in refusals[0].message
    assert "expired on Mon 2 Mar 2026" in refusals[0].message
    assert "Tue 3 Mar 2026" in refusals[0].message
    # A renewed license makes it valid again.
    renewed = License(state="ID", kind="NP", number="NP-77", expires_on=date(2028, 3, 2))
    assert check(telehealth(local(tuesday, (9, 0), (9, 30))), licenses=[idaho, renewed]) == []


def test_inactive_license_is_ignored() -> None:
    suspended = License(
        state="ID", kind="MD", number="M-1", expires_on=date(2030, 1, 1), active=False
    )
    refusals = check(telehealth(local(MONDAY, (9, 0), (9, 30))), licenses=[suspended, UTAH])
    assert problems(refusals) == [Problem.NO_LICENSE]


def test_expiry_date_is_the_visits_local_date_not_utc() -> None:
    idaho = License(state="ID", kind="MD", number="M-2", expires_on=MONDAY)
    # 23:30 MST on the expiry date is already 06:30 UTC the next day.
    late = Interval(at(MONDAY, 23, 30), at(MONDAY, 23, 55))
    assert late.start.astimezone(UTC).date() == MONDAY + timedelta(days=1)
    assert check(telehealth(late), licenses=[idaho]) == []
    # Running past local midnight: the visit's date is the day it starts.
    assert (
        check(
            telehealth(Interval(at(MONDAY, 23, 30), at(MONDAY + timedelta(days=1), 0, 15))),
            licenses=[idaho],
        )
        == []
    )
    # Written in UTC but with the provider's Denver hours: still the Denver date.
    in_utc = Interval(late.start.astimezone(UTC), late.end.astimezone(UTC))
    evening = WeeklyHours(tz=DENVER, days={0: ((time(18), time(23, 59)),)})
    assert check(telehealth(in_utc), licenses=[idaho], working_hours=evening) == []
    # Written in UTC with no hours to say where: the request's own (UTC) date applies.
    assert problems(check(telehealth(in_utc), licenses=[idaho])) == [Problem.LICENSE_EXPIRED]


def test_telehealth_needs_the_patients_state() -> None:
    refusals = check(telehealth(local(MONDAY, (9, 0), (9, 30)), state=None), licenses=[UTAH])
    assert problems(refusals) == [Problem.NEEDS_STATE]
    assert "state of residence" in refusals[0].message


def test_in_person_visits_need_no_license() -> None:
    request = Request(
        local(MONDAY, (9, 0), (9, 30)), patient_id=1, provider_id=10, chair_id=1, telehealth=False
    )
    assert check(request, licenses=[]) == []


def test_state_codes() -> None:
    assert len(US_STATES) == 51
    assert US_STATES["DC"] == "District of Columbia"
    assert License(state="id", kind="MD", number="1", expires_on=MONDAY).state == "ID"
    with pytest.raises(BookingError, match="two-letter US state"):
        License(state="XX", kind="MD", number="1", expires_on=MONDAY)
    with pytest.raises(BookingError, match="patient_state"):
        telehealth(local(MONDAY, (9, 0), (9, 30)), state="Idaho")
    with pytest.raises(BookingError, match="expires_on"):
        License(state="ID", kind="MD", number="1", expires_on=datetime(2026, 1, 1))  # type: ignore[arg-type]


def test_ids_must_be_whole_numbers() -> None:
    with pytest.raises(BookingError, match="chair_id"):
        Booking(local(MONDAY, (9, 0), (10, 0)), patient_id=1, provider_id=2, chair_id="3")  # type: ignore[arg-type]
    with pytest.raises(BookingError, match="patient_id"):
        Request(local(MONDAY, (9, 0), (10, 0)), patient_id=None, provider_id=2, chair_id=3)  # type: ignore[arg-type]


# --- series ----------------------------------------------------------------------------

IV_INDUCTION = ScheduleRules(sessions=6, max_per_week=3, no_consecutive_days=True)


def induction(chair: int = 1, patient: int = 1, provider: int = 10) -> list[Request]:
    starts = plan_session_starts(
        first_day=MONDAY, local_time=time(10), tz=DENVER, rules=IV_INDUCTION
    )
    return [
        Request(
            Interval(start, start + timedelta(minutes=120)),
            patient_id=patient,
            provider_id=provider,
            chair_id=chair,
        )
        for start in starts
    ]


def series(requests: list[Request], **kwargs: object) -> list[tuple[int, Refusal]]:
    arguments: dict[str, object] = {
        "existing": (),
        "opening_hours": hours(),
        "working_hours": None,
        "now": NOW,
    }
    arguments.update(kwargs)
    return check_series(requests, **arguments)  # type: ignore[arg-type]


def test_clean_series() -> None:
    assert series(induction()) == []


def test_fourth_session_collides_with_an_existing_chair_booking() -> None:
    requests = induction()
    # The 4th session is Mon 9 Mar 2026, the day after the spring-forward change.
    assert requests[3].interval.start.astimezone(ZoneInfo(DENVER)) == at(date(2026, 3, 9), 10)
    other = Booking(
        local(date(2026, 3, 9), (11, 0), (13, 0)), patient_id=2, provider_id=20, chair_id=1
    )
    result = series(requests, existing=[other])
    assert [(index, refusal.problem) for index, refusal in result] == [(3, Problem.CHAIR_TAKEN)]
    assert "Mon 9 Mar 2026 11:00-13:00 MDT" in result[0][1].message
    assert result[0][1].when == requests[3].interval


def test_series_reports_every_problem_before_anything_is_saved() -> None:
    requests = induction()
    existing = [
        Booking(requests[1].interval, patient_id=2, provider_id=10, chair_id=5),
        Booking(requests[5].interval, patient_id=3, provider_id=30, chair_id=1),
    ]
    result = series(requests, existing=existing)
    assert [(index, refusal.problem) for index, refusal in result] == [
        (1, Problem.PROVIDER_BUSY),
        (5, Problem.CHAIR_TAKEN),
    ]


def test_two_sessions_of_one_series_may_not_collide() -> None:
    first = Request(local(MONDAY, (10, 0), (12, 0)), patient_id=1, provider_id=10, chair_id=1)
    second = Request(local(MONDAY, (11, 0), (13, 0)), patient_id=1, provider_id=10, chair_id=1)
    third = Request(local(MONDAY, (13, 0), (15, 0)), patient_id=1, provider_id=10, chair_id=1)
    result = series([first, second, third])
    assert [(index, refusal.problem) for index, refusal in result] == [
        (1, Problem.CHAIR_TAKEN),
        (1, Problem.PROVIDER_BUSY),
        (1, Problem.PATIENT_BUSY),
    ]
    assert all("session 1 of this series" in refusal.message for _, refusal in result)


def test_series_checks_hours_and_licenses_for_every_date() -> None:
    requests = [
        Request(
            local(MONDAY + timedelta(days=7 * week), (9, 0), (9, 30)),
            patient_id=1,
            provider_id=10,
            chair_id=None,
            telehealth=True,
            patient_state="UT",
        )
        for week in range(4)
    ]
    short = License(state="UT", kind="MD", number="1", expires_on=date(2026, 3, 10))
    result = series(requests, licenses=[short], opening_hours=None)
    assert [(index, refusal.problem) for index, refusal in result] == [
        (2, Problem.LICENSE_EXPIRED),
        (3, Problem.LICENSE_EXPIRED),
    ]


# --- properties ------------------------------------------------------------------------

BASE = datetime(2026, 10, 31, tzinfo=UTC)  # covers the fall-back night in US zones
ZONES = ("UTC", DENVER, PHOENIX, BOISE, "America/New_York")


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    start = BASE + timedelta(minutes=15 * draw(st.integers(0, 4 * 24 * 3)))
    end = start + timedelta(minutes=15 * draw(st.integers(1, 16)))
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    return Interval(start.astimezone(zone), end.astimezone(zone))


SMALL_ID = st.integers(1, 3)
MAYBE_ID = st.none() | SMALL_ID


@st.composite
def bookings(draw: st.DrawFn) -> Booking:
    return Booking(draw(intervals()), draw(SMALL_ID), draw(MAYBE_ID), draw(MAYBE_ID))


def really_overlap(a: Interval, b: Interval) -> bool:
    return a.start.timestamp() < b.end.timestamp() and b.start.timestamp() < a.end.timestamp()


@settings(max_examples=300, deadline=None)
@given(
    existing=st.lists(bookings(), max_size=12),
    interval=intervals(),
    patient=SMALL_ID,
    provider=MAYBE_ID,
    chair=MAYBE_ID,
)
def test_property_collisions_iff_same_resource_overlaps(
    existing: list[Booking],
    interval: Interval,
    patient: int,
    provider: int | None,
    chair: int | None,
) -> None:
    request = Request(interval, patient_id=patient, provider_id=provider, chair_id=chair)
    found = problems(
        check_booking(request, existing=existing, opening_hours=None, working_hours=None, now=NOW)
    )
    overlapping = [b for b in existing if really_overlap(b.interval, interval)]
    expected = {
        Problem.CHAIR_TAKEN: [b for b in overlapping if chair is not None and b.chair_id == chair],
        Problem.PROVIDER_BUSY: [
            b for b in overlapping if provider is not None and b.provider_id == provider
        ],
        Problem.PATIENT_BUSY: [b for b in overlapping if b.patient_id == patient],
    }
    for problem, colliding in expected.items():
        assert (problem in found) == bool(colliding)
        assert found.count(problem) == len(colliding)
    assert set(found) <= set(expected)


@settings(max_examples=200, deadline=None)
@given(
    slots=st.lists(
        st.tuples(
            st.integers(0, 8),  # gap before, in 15-minute steps (0: back-to-back)
            st.integers(1, 16),  # length, in 15-minute steps
            st.booleans(),  # True: a request of the series; False: an existing booking
            SMALL_ID,
            MAYBE_ID,
            MAYBE_ID,
            st.sampled_from(ZONES),
        ),
        max_size=15,
    ),
    order=st.randoms(use_true_random=False),
)
def test_property_non_overlapping_series_is_clean(
    slots: list[tuple[int, int, bool, int, int | None, int | None, str]], order: object
) -> None:
    cursor = BASE
    requests: list[Request] = []
    existing: list[Booking] = []
    for gap, length, is_request, patient, provider, chair, tz in slots:
        start = cursor + timedelta(minutes=15 * gap)
        cursor = start + timedelta(minutes=15 * length)
        zone = ZoneInfo(tz)
        interval = Interval(start.astimezone(zone), cursor.astimezone(zone))
        if is_request:
            requests.append(Request(interval, patient, provider, chair))
        else:
            existing.append(Booking(interval, patient, provider, chair))
    order.shuffle(requests)  # type: ignore[attr-defined]
    assert (
        check_series(requests, existing=existing, opening_hours=None, working_hours=None, now=NOW)
        == []
    )
