"""Charting's part when a treatment course ends (treatment.signals.course_ended)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from ketaclinic.charting.services import course_sessions_cancel
from ketaclinic.treatment.models import TreatmentCourse
from ketaclinic.treatment.signals import course_ended


@receiver(course_ended, sender=TreatmentCourse, dispatch_uid="charting_course_ended")
def course_ended_cancel_sessions(
    sender: type[TreatmentCourse], course: TreatmentCourse, actor: Any, reason: str, **_: Any
) -> None:
    course_sessions_cancel(actor=actor, course=course, reason=reason)
