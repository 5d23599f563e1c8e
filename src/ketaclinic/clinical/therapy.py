"""Integration windows: when, after a dosing session, the integration therapy visit is due.

Pure rules, no Django. Ketamine-assisted psychotherapy pairs dosing sessions with
preparation before and integration after; the integration visit belongs "within a few days"
of the dosing session, while the experience is fresh (Dore et al., "Ketamine Assisted
Psychotherapy (KAP): Patient Demographics, Clinical Data and Outcomes in Three Large
Practices Administering Ketamine with Psychotherapy", J Psychoactive Drugs 2019;51(2):189-198;
Drozdz et al., "Ketamine-assisted psychotherapy: a systematic narrative review", Front
Psychiatry 2022). The default of 72 hours is the clinic's default (therapy/rules.json),
which each location may change; it is data, never a constant here.

Windows are measured in elapsed hours from the end of dosing (the anchor), so a window
across a daylight-saving change is still exactly its hours long; its local dates are shown
in the location's time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

__all__ = [
    "Dosing",
    "IntegrationRow",
    "IntegrationStatus",
    "IntegrationWindow",
    "Visit",
    "integration_plan",
    "window_problem",
]


class TherapyRuleError(ValueError):
    """A rule or input that cannot be used (naive times, a window that closes before it opens)."""


def _aware(value: datetime, what: str) -> datetime:
    """The instant in UTC: Python adds and compares datetimes of one zone by wall clock,
    which would make a window across a daylight-saving change an hour off."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TherapyRuleError(f"{what} needs a time zone")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class IntegrationWindow:
    """The integration visit starts between `opens_after_hours` and `closes_after_hours`
    (elapsed hours) after the end of dosing. `source` says where the numbers come from."""

    opens_after_hours: int
    closes_after_hours: int
    source: str = ""

    def __post_init__(self) -> None:
        if self.opens_after_hours < 0:
            raise TherapyRuleError("the window cannot open before dosing ends")
        if self.closes_after_hours <= self.opens_after_hours:
            raise TherapyRuleError("the window must close after it opens")

    def opens(self, anchor: datetime) -> datetime:
        return _aware(anchor, "the dosing time") + timedelta(hours=self.opens_after_hours)

    def closes(self, anchor: datetime) -> datetime:
        return _aware(anchor, "the dosing time") + timedelta(hours=self.closes_after_hours)

    def contains(self, anchor: datetime, starts_at: datetime) -> bool:
        """Whether a visit starting at `starts_at` is in the window (opening included,
        closing excluded)."""
        return self.opens(anchor) <= _aware(starts_at, "the visit time") < self.closes(anchor)


class IntegrationStatus(StrEnum):
    BOOKED = "booked"  # an integration visit is booked in the window
    DONE = "done"  # the visit in the window has taken place
    DUE = "due"  # the window is open now and nothing is booked
    OVERDUE = "overdue"  # the window closed with nothing booked
    NOT_YET = "not_yet"  # the dosing session has not happened yet
    NONE = "none"  # the dosing session did not happen (cancelled): nothing is owed


STATUS_LABELS = {
    IntegrationStatus.BOOKED: "Booked",
    IntegrationStatus.DONE: "Done",
    IntegrationStatus.DUE: "Due",
    IntegrationStatus.OVERDUE: "Overdue",
    IntegrationStatus.NOT_YET: "After the session",
    IntegrationStatus.NONE: "None needed",
}


@dataclass(frozen=True)
class Dosing:
    """A dosing session: `anchor` is when dosing ended (or is planned to); `given` is False
    for a session that did not or will not take place (cancelled, skipped); `pending` for
    one planned or under way whose dosing has not ended yet."""

    key: int
    anchor: datetime
    given: bool = True
    pending: bool = False


@dataclass(frozen=True)
class Visit:
    """A booked integration visit (start time, and whether it is over)."""

    key: int
    starts_at: datetime


@dataclass(frozen=True)
class IntegrationRow:
    dosing: Dosing
    opens_at: datetime
    closes_at: datetime
    status: IntegrationStatus
    visit: Visit | None

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


def integration_plan(
    dosings: Sequence[Dosing],
    visits: Sequence[Visit],
    window: IntegrationWindow,
    now: datetime,
) -> list[IntegrationRow]:
    """Each dosing session with its integration visit and status, in dosing order.

    Each visit counts for at most one dosing session: the earliest dosing whose window holds
    it takes it (so two sessions 24 hours apart need two visits). A session not given needs
    none; a future one is "not yet" until dosing has ended."""
    now = _aware(now, "now")
    unused = sorted(visits, key=lambda v: (_aware(v.starts_at, "a visit time"), v.key))
    rows: list[IntegrationRow] = []
    for dosing in sorted(dosings, key=lambda d: (_aware(d.anchor, "a dosing time"), d.key)):
        opens, closes = window.opens(dosing.anchor), window.closes(dosing.anchor)
        visit = None
        if dosing.given:
            visit = next((v for v in unused if window.contains(dosing.anchor, v.starts_at)), None)
            if visit is not None:
                unused.remove(visit)
        if not dosing.given:
            status = IntegrationStatus.NONE
        elif visit is not None:
            done = _aware(visit.starts_at, "a visit time") <= now
            status = IntegrationStatus.DONE if done else IntegrationStatus.BOOKED
        elif dosing.pending or _aware(dosing.anchor, "a dosing time") > now:
            status = IntegrationStatus.NOT_YET
        elif now < closes:
            status = IntegrationStatus.DUE
        else:
            status = IntegrationStatus.OVERDUE
        rows.append(IntegrationRow(dosing, opens, closes, status, visit))
    return rows


def _local(value: datetime, zone: ZoneInfo) -> str:
    local = value.astimezone(zone)
    return f"{local:%a %b} {local.day} {local:%H:%M} {local.tzname()}"


def window_problem(
    anchor: datetime, starts_at: datetime, window: IntegrationWindow, zone: ZoneInfo
) -> str | None:
    """Why an integration visit at `starts_at` is outside the window after the dosing that
    ended at `anchor` (None: it is inside). Times in the message are local to `zone`."""
    if window.contains(anchor, starts_at):
        return None
    return (
        f"An integration session for this dosing session starts between "
        f"{_local(window.opens(anchor), zone)} and {_local(window.closes(anchor), zone)} "
        f"({window.closes_after_hours} hours after dosing); {_local(starts_at, zone)} is "
        f"{'before' if _aware(starts_at, 'the visit time') < window.opens(anchor) else 'after'}"
        " that."
    )
