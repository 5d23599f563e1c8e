"""Booking rules for the clinic calendar: chairs, providers, patients, hours and licensure.

A requested appointment can be booked when

* it does not start in the past;
* it lies inside the location's opening hours and the provider's working hours at that
  location (both are the clinic's data, held as weekly local wall-clock spans plus closed
  dates; checked in the location's IANA zone, so "08:00-17:00" means 08:00-17:00 local on
  a daylight-saving change day too);
* it does not overlap another booking of the same chair, the same provider or the same
  patient (intervals are half-open, so back-to-back visits are fine);
* for a telehealth visit, the provider holds a license in the patient's state of residence
  that is active and not expired on the visit's local date. This follows state medical-board
  practice for telehealth: the clinician must be licensed in the state where the patient is
  located at the time of the visit (e.g. Federation of State Medical Boards, "The Appropriate
  Use of Telemedicine Technologies in the Practice of Medicine", 2022). In ketaclinic it is a
  rule driven by data: which licenses a provider holds, and the patient's state on file.

A treatment course's planned sessions are checked as a series (`check_series`) before
anything is saved: every session against existing bookings and against the earlier
sessions of the same series. Pure: standard library only, no Django imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "US_STATES",
    "Booking",
    "BookingError",
    "Interval",
    "License",
    "Problem",
    "Refusal",
    "Request",
    "WeeklyHours",
    "check_booking",
    "check_series",
]


class BookingError(ValueError):
    """The booking data itself is malformed (not a refusal); the message says why."""


US_STATES: Mapping[str, str] = MappingProxyType(
    {
        "AL": "Alabama",
        "AK": "Alaska",
        "AZ": "Arizona",
        "AR": "Arkansas",
        "CA": "California",
        "CO": "Colorado",
        "CT": "Connecticut",
        "DE": "Delaware",
        "DC": "District of Columbia",
        "FL": "Florida",
        "GA": "Georgia",
        "HI": "Hawaii",
        "ID": "Idaho",
        "IL": "Illinois",
        "IN": "Indiana",
        "IA": "Iowa",
        "KS": "Kansas",
        "KY": "Kentucky",
        "LA": "Louisiana",
        "ME": "Maine",
        "MD": "Maryland",
        "MA": "Massachusetts",
        "MI": "Michigan",
        "MN": "Minnesota",
        "MS": "Mississippi",
        "MO": "Missouri",
        "MT": "Montana",
        "NE": "Nebraska",
        "NV": "Nevada",
        "NH": "New Hampshire",
        "NJ": "New Jersey",
        "NM": "New Mexico",
        "NY": "New York",
        "NC": "North Carolina",
        "ND": "North Dakota",
        "OH": "Ohio",
        "OK": "Oklahoma",
        "OR": "Oregon",
        "PA": "Pennsylvania",
        "RI": "Rhode Island",
        "SC": "South Carolina",
        "SD": "South Dakota",
        "TN": "Tennessee",
        "TX": "Texas",
        "UT": "Utah",
        "VT": "Vermont",
        "VA": "Virginia",
        "WA": "Washington",
        "WV": "West Virginia",
        "WI": "Wisconsin",
        "WY": "Wyoming",
    }
)
"""US state (and DC) postal codes -> names, used to name states in messages."""

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_PLURALS = (
    "Mondays",
    "Tuesdays",
    "Wednesdays",
    "Thursdays",
    "Fridays",
    "Saturdays",
    "Sundays",
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _state_code(value: object, what: str) -> str:
    if not isinstance(value, str) or value.strip().upper() not in US_STATES:
        raise BookingError(f"{what} must be a two-letter US state code such as 'UT', not {value!r}")
    return value.strip().upper()


def _state_label(code: str) -> str:
    return f"{US_STATES[code]} ({code})"


def _is_aware(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


def _utc(value: datetime) -> datetime:
    # Aware datetimes sharing one tzinfo compare by wall clock (fold ignored), which is wrong
    # in the fall-back hour; comparing in UTC is always right.
    return value.astimezone(UTC)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise BookingError(f"unknown time zone {tz!r}") from exc


def _day_text(day: date) -> str:
    """'Mon 2 Mar 2026' (locale-independent)."""
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class Interval:
    """A half-open span of time [start, end); both ends timezone-aware, end after start."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if not _is_aware(self.start) or not _is_aware(self.end):
            raise BookingError("an interval needs timezone-aware start and end times")
        if _utc(self.end) <= _utc(self.start):
            raise BookingError(
                f"an interval must end after it starts ({self.start.isoformat()} to "
                f"{self.end.isoformat()})"
            )

    def overlaps(self, other: Interval) -> bool:
        """True when the two share any instant; touching ends (back-to-back) do not."""
        return _utc(self.start) < _utc(other.end) and _utc(other.start) < _utc(self.end)


def _describe(interval: Interval, zone: tzinfo) -> str:
    """'Mon 2 Mar 2026 08:00-10:00 MST' in `zone` (both days shown if they differ)."""
    start = interval.start.astimezone(zone)
    end = interval.end.astimezone(zone)
    if start.date() != end.date():
        return (
            f"{_day_text(start.date())} {start:%H:%M} {start.tzname()} to "
            f"{_day_text(end.date())} {end:%H:%M} {end.tzname()}"
        )
    if start.tzname() != end.tzname():
        return (
            f"{_day_text(start.date())} {start:%H:%M} {start.tzname()}-{end:%H:%M} {end.tzname()}"
        )
    return f"{_day_text(start.date())} {start:%H:%M}-{end:%H:%M} {start.tzname()}"


_Span = tuple[time, time]


def _normalise_days(days: object) -> Mapping[int, tuple[_Span, ...]]:
    if not isinstance(days, Mapping):
        raise BookingError("days must map weekday numbers 0 (Mon) to 6 (Sun) to open spans")
    result: dict[int, tuple[_Span, ...]] = {}
    for weekday, spans in days.items():
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise BookingError(f"weekday must be a number 0 (Mon) to 6 (Sun), not {weekday!r}")
        try:
            pairs = [tuple(pair) for pair in spans]
        except TypeError as exc:
            raise BookingError(f"{_WEEKDAYS[weekday]}: spans must be (open, close) pairs") from exc
        checked: list[_Span] = []
        for pair in pairs:
            if (
                len(pair) != 2
                or not all(isinstance(t, time) and t.tzinfo is None for t in pair)
                or pair[1] <= pair[0]
            ):
                raise BookingError(
                    f"{_WEEKDAYS[weekday]}: each span must be local wall-clock (open, close) "
                    f"times with close after open, not {pair!r}"
                )
            checked.append((pair[0], pair[1]))
        checked.sort()
        for (_, close), (next_open, _) in pairwise(checked):
            if next_open < close:
                raise BookingError(f"{_WEEKDAYS[weekday]}: open spans overlap")
        result[weekday] = tuple(checked)
    return MappingProxyType(result)


def _span_text(spans: tuple[_Span, ...]) -> str:
    return ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in spans)


@dataclass(frozen=True)
class WeeklyHours:
    """Opening hours of a location, or a provider's working hours at a location.

    `days` maps weekday (Monday = 0) to local wall-clock (open, close) spans; a weekday that is
    missing (or has no spans) is closed. `closed_dates` are local dates closed all day
    (holidays). The hours are the clinic's own data; they are read in the IANA zone `tz`.
    """

    tz: str
    days: Mapping[int, tuple[tuple[time, time], ...]] = field(hash=False)
    closed_dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.tz, str):
            raise BookingError(f"unknown time zone {self.tz!r}")
        _zone(self.tz)
        object.__setattr__(self, "days", _normalise_days(self.days))
        closed = frozenset(self.closed_dates)
        if not all(isinstance(d, date) and not isinstance(d, datetime) for d in closed):
            raise BookingError("closed_dates must be dates")
        object.__setattr__(self, "closed_dates", closed)

    def contains(self, interval: Interval) -> bool:
        """True when the whole interval lies inside one open span of one local day.

        Uses local wall-clock times in `tz`, so a day with a daylight-saving change keeps its
        local hours; an interval crossing local midnight is never contained.
        """
        return self._why_not(interval) is None

    def _why_not(self, interval: Interval) -> str | None:
        """None when contained, else a short clinic-language reason."""
        zone = _zone(self.tz)
        start = interval.start.astimezone(zone)
        end = interval.end.astimezone(zone)
        day = start.date()
        if end.date() != day:
            return "it runs past midnight"
        if day in self.closed_dates:
            return f"{_day_text(day)} is a closed day"
        spans = self.days.get(day.weekday(), ())
        if not spans:
            return f"closed on {_WEEKDAY_PLURALS[day.weekday()]}"
        if any(open_ <= start.time() and end.time() <= close for open_, close in spans):
            return None
        return f"hours on {_WEEKDAY_PLURALS[day.weekday()]}: {_span_text(spans)} {start.tzname()}"


@dataclass(frozen=True)
class License:
    """A provider's license in one state, valid through `expires_on` (inclusive)."""

    state: str
    kind: str
    number: str
    expires_on: date
    active: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", _state_code(self.state, "license state"))
        if isinstance(self.expires_on, datetime) or not isinstance(self.expires_on, date):
            raise BookingError("expires_on must be a date")


def _check_ids(obj: Booking | Request) -> None:
    if not isinstance(obj.interval, Interval):
        raise BookingError("interval must be an Interval")
    for name in ("patient_id", "provider_id", "chair_id"):
        value = getattr(obj, name)
        if name != "patient_id" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise BookingError(f"{name} must be a whole number, not {value!r}")


@dataclass(frozen=True)
class Booking:
    """An existing appointment occupying a patient, and possibly a provider and a chair."""

    interval: Interval
    patient_id: int
    provider_id: int | None
    chair_id: int | None
    # A visit that keeps the patient company in their own chair or room (a therapist's
    # in-session support): it may overlap that visit of the same patient.
    accompanies: bool = False

    def __post_init__(self) -> None:
        _check_ids(self)


@dataclass(frozen=True)
class Request:
    """An appointment someone wants to book. Telehealth needs the patient's state."""

    interval: Interval
    patient_id: int
    provider_id: int | None
    chair_id: int | None
    telehealth: bool = False
    patient_state: str | None = None
    # How messages name the chair and the patient (default: by id).
    chair_label: str = ""
    patient_label: str = ""
    accompanies: bool = False

    def __post_init__(self) -> None:
        _check_ids(self)
        if self.patient_state is not None:
            object.__setattr__(
                self, "patient_state", _state_code(self.patient_state, "patient_state")
            )


class Problem(StrEnum):
    OUTSIDE_OPENING_HOURS = "outside_opening_hours"
    OUTSIDE_WORKING_HOURS = "outside_working_hours"
    CHAIR_TAKEN = "chair_taken"
    PROVIDER_BUSY = "provider_busy"
    PATIENT_BUSY = "patient_busy"
    NO_LICENSE = "no_license"
    LICENSE_EXPIRED = "license_expired"
    NEEDS_STATE = "needs_state"
    IN_THE_PAST = "in_the_past"


@dataclass(frozen=True)
class Refusal:
    """One reason a request cannot be booked; `when` is the requested visit's interval."""

    problem: Problem
    message: str
    when: Interval


def _display_zone(
    request: Request, opening_hours: WeeklyHours | None, working_hours: WeeklyHours | None
) -> tzinfo:
    """The zone for local dates and messages: the location's, else the request's own."""
    for hours in (opening_hours, working_hours):
        if hours is not None:
            return _zone(hours.tz)
    zone = request.interval.start.tzinfo
    assert zone is not None  # Interval guarantees an aware start
    return zone


def _check(
    request: Request,
    existing: Sequence[tuple[Booking, str]],
    opening_hours: WeeklyHours | None,
    working_hours: WeeklyHours | None,
    licenses: Sequence[License],
    now: datetime,
    provider_name: str,
) -> list[Refusal]:
    zone = _display_zone(request, opening_hours, working_hours)
    when = request.interval
    visit = _describe(when, zone)
    refusals: list[Refusal] = []

    def refuse(problem: Problem, message: str) -> None:
        refusals.append(Refusal(problem, message, when))

    if _utc(when.start) < _utc(now):
        now_local = _utc(now).astimezone(zone)
        refuse(
            Problem.IN_THE_PAST,
            f"The visit {visit} starts in the past (now is {_day_text(now_local.date())} "
            f"{now_local:%H:%M} {now_local.tzname()}); choose a later time.",
        )
    if opening_hours is not None and (reason := opening_hours._why_not(when)) is not None:
        refuse(
            Problem.OUTSIDE_OPENING_HOURS,
            f"The visit {visit} is outside the clinic's opening hours ({reason}).",
        )
    if working_hours is not None and (reason := working_hours._why_not(when)) is not None:
        refuse(
            Problem.OUTSIDE_WORKING_HOURS,
            f"{provider_name} is not working at this location for the visit {visit} ({reason}).",
        )

    for booking, label in existing:
        if not booking.interval.overlaps(when):
            continue
        taken = _describe(booking.interval, zone)
        other = label or "another booking"
        if request.chair_id is not None and booking.chair_id == request.chair_id:
            refuse(
                Problem.CHAIR_TAKEN,
                f"{request.chair_label or f'Chair {request.chair_id}'} is taken {taken} by "
                f"{other}; "
                f"it cannot also be used for the visit {visit}.",
            )
        if request.provider_id is not None and booking.provider_id == request.provider_id:
            refuse(
                Problem.PROVIDER_BUSY,
                f"{provider_name} is already booked {taken} ({other}); "
                f"the visit {visit} overlaps it.",
            )
        # Support beside the patient's own chair or room visit is not a double booking.
        beside = (request.accompanies and booking.chair_id is not None) or (
            booking.accompanies and request.chair_id is not None
        )
        if booking.patient_id == request.patient_id and not beside:
            refuse(
                Problem.PATIENT_BUSY,
                f"{request.patient_label or f'Patient {request.patient_id}'} already has a "
                f"visit {taken} ({other}); "
                f"the visit {visit} overlaps it.",
            )

    if request.telehealth:
        state = request.patient_state
        if state is None:
            refuse(
                Problem.NEEDS_STATE,
                f"The telehealth visit {visit} needs the patient's state of residence on file: "
                "the provider must be licensed in that state.",
            )
        else:
            # Local date at the location (or in the request's own zone): a 23:30 visit on the
            # expiry date is still on that date even when UTC has moved on.
            visit_day = when.start.astimezone(zone).date()
            in_state = [lic for lic in licenses if lic.state == state and lic.active]
            if not any(visit_day <= lic.expires_on for lic in in_state):
                if in_state:
                    latest = max(in_state, key=lambda lic: lic.expires_on)
                    refuse(
                        Problem.LICENSE_EXPIRED,
                        f"{provider_name}'s license in {_state_label(state)} "
                        f"({latest.kind} {latest.number}) expired on "
                        f"{_day_text(latest.expires_on)}, before the telehealth visit on "
                        f"{_day_text(visit_day)}: telehealth needs an active license in the "
                        "patient's state.",
                    )
                else:
                    refuse(
                        Problem.NO_LICENSE,
                        f"{provider_name} holds no active license in {_state_label(state)} on "
                        f"{_day_text(visit_day)}: telehealth needs one in the patient's state.",
                    )
    return refusals


def _check_arguments(
    existing: Sequence[Booking],
    opening_hours: WeeklyHours | None,
    working_hours: WeeklyHours | None,
    licenses: Sequence[License],
    now: datetime,
) -> None:
    if not _is_aware(now):
        raise BookingError("now must be a timezone-aware datetime")
    if not all(isinstance(b, Booking) for b in existing):
        raise BookingError("existing must hold Booking objects")
    for hours in (opening_hours, working_hours):
        if hours is not None and not isinstance(hours, WeeklyHours):
            raise BookingError("opening and working hours must be WeeklyHours or None")
    if not all(isinstance(lic, License) for lic in licenses):
        raise BookingError("licenses must hold License objects")


def check_booking(
    request: Request,
    *,
    existing: Sequence[Booking],
    opening_hours: WeeklyHours | None,
    working_hours: WeeklyHours | None,
    licenses: Sequence[License] = (),
    now: datetime,
    provider_name: str = "The provider",
) -> list[Refusal]:
    """Every reason the request cannot be booked (empty list: it can).

    Rules, in the order reported: in the past; outside the location's opening hours (None:
    not checked, e.g. telehealth from anywhere); outside the provider's working hours at that
    location (None: not checked); overlapping an existing booking of the same chair, provider
    or patient (one refusal per collision; back-to-back is fine); for telehealth, the
    patient's state is required and the provider needs a license there that is active and
    not expired on the visit's local date (state medical-board practice: licensed where the
    patient is located at the time of the visit; a ketaclinic rule driven by license data).
    The local date and the times in messages use the opening hours' zone, else the working
    hours' zone, else the request start's own zone.
    """
    if not isinstance(request, Request):
        raise BookingError("request must be a Request")
    _check_arguments(existing, opening_hours, working_hours, licenses, now)
    return _check(
        request,
        [(b, "") for b in existing],
        opening_hours,
        working_hours,
        licenses,
        now,
        provider_name,
    )


def check_series(
    requests: Sequence[Request],
    *,
    existing: Sequence[Booking],
    opening_hours: WeeklyHours | None,
    working_hours: WeeklyHours | None,
    licenses: Sequence[License] = (),
    now: datetime,
    provider_name: str = "The provider",
) -> list[tuple[int, Refusal]]:
    """Check a whole series (e.g. a course's six induction sessions) before anything is saved.

    Each request is checked as by `check_booking` against the existing bookings AND against
    the earlier requests of the same series (two sessions of the series may not collide; a
    collision is reported once, at the later session). Returns (index, refusal) pairs for
    every problem; an empty list means the caller may save all of them.
    """
    if not all(isinstance(r, Request) for r in requests):
        raise BookingError("requests must hold Request objects")
    _check_arguments(existing, opening_hours, working_hours, licenses, now)
    others: list[tuple[Booking, str]] = [(b, "") for b in existing]
    result: list[tuple[int, Refusal]] = []
    for index, request in enumerate(requests):
        refusals = _check(
            request, others, opening_hours, working_hours, licenses, now, provider_name
        )
        result.extend((index, refusal) for refusal in refusals)
        start = request.interval.start.astimezone(
            _display_zone(request, opening_hours, working_hours)
        )
        others.append(
            (
                Booking(
                    request.interval, request.patient_id, request.provider_id, request.chair_id
                ),
                f"session {index + 1} of this series ({_day_text(start.date())})",
            )
        )
    return result
