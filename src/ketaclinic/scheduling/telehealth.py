"""The video link of a telehealth appointment, shown to the patient and the provider only
around the visit (KETACLINIC_VIDEO_LINK_OPENS_MINUTES before the start until the end)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from ketaclinic.scheduling.models import Appointment


@dataclass(frozen=True)
class VideoLink:
    """`url` is set only while the link may be used; `message` says why not otherwise."""

    url: str | None
    opens_at: datetime
    closes_at: datetime
    message: str


def video_url(appointment: Appointment) -> str | None:
    """The clinic's video-service address for this visit, or None (not a video visit, or
    no KETACLINIC_VIDEO_URL_PATTERN configured)."""
    pattern = settings.KETACLINIC_VIDEO_URL_PATTERN
    if not appointment.telehealth or not pattern:
        return None
    return pattern.replace("{room}", appointment.video_room)


def video_link(appointment: Appointment, now: datetime | None = None) -> VideoLink:
    """Whether and why the video link can be shown at `now`."""
    now = now or timezone.now()
    opens = appointment.starts_at - timedelta(minutes=settings.KETACLINIC_VIDEO_LINK_OPENS_MINUTES)
    closes = appointment.ends_at
    url = video_url(appointment)
    local_open = timezone.localtime(opens, appointment.location.tz)
    if not appointment.telehealth:
        return VideoLink(None, opens, closes, "This is an in-person visit.")
    if url is None:
        return VideoLink(
            None, opens, closes, "The clinic has not set up its video service yet; call the clinic."
        )
    if not appointment.is_booked:
        return VideoLink(
            None, opens, closes, f"This visit is {appointment.get_status_display().lower()}."
        )
    if now < opens:
        return VideoLink(
            None,
            opens,
            closes,
            f"The video link appears here at {local_open:%H:%M} on {local_open:%a %-d %b}.",
        )
    if now >= closes:
        return VideoLink(None, opens, closes, "This video visit has ended.")
    return VideoLink(url, opens, closes, "Join the video visit.")
