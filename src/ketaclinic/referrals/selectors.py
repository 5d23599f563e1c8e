"""Reads of the directory and of referrals. Each takes a fixed number of queries, whatever
the number of rows; "stalled" is one SQL filter on the indexed last change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ketaclinic.accounts.selectors import locations_for
from ketaclinic.clinical.referrals import stall_cutoff
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import patient_scope
from ketaclinic.referrals.models import Referral, ReferralEvent, ReferralResource, StallLimit
from ketaclinic.referrals.rules import referral_rules

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User


@dataclass(frozen=True)
class DirectoryFilter:
    kind: str = ""
    language: str = ""
    telehealth: bool | None = None
    include_inactive: bool = False


def directory(
    location_id: int, filters: DirectoryFilter | None = None
) -> QuerySet[ReferralResource]:
    """A location's directory: the 988 Lifeline first (it matches every filter but kind),
    then the location's own resources by name."""
    filters = filters or DirectoryFilter()
    # The 988 row is made after every migrate (apps.py): a read never writes it.
    local = Q(location_id=location_id)
    if not filters.include_inactive:
        local &= Q(is_active=True)
    if filters.language:
        local &= Q(languages__icontains=filters.language)
    if filters.telehealth is not None:
        local &= Q(telehealth=filters.telehealth)
    resources = ReferralResource.objects.filter(Q(national=True) | local)
    if filters.kind:
        resources = resources.filter(kind=filters.kind)
    return resources.order_by("-national", "kind", "name", "id")


def crisis_resources(location_id: int) -> QuerySet[ReferralResource]:
    """The crisis lines a patient at this location can be referred to: 988 first."""
    return directory(location_id, DirectoryFilter(kind="crisis_line"))


def resource_get_for_user(user: User, resource_id: int) -> ReferralResource:
    """A resource of one of the user's locations (or the national line), else 404."""
    resource = (
        ReferralResource.objects.filter(
            Q(national=True) | Q(location__in=locations_for(user)), pk=resource_id
        )
        .select_related("location")
        .first()
    )
    if resource is None:
        raise Http404("No such resource")
    return resource


def stall_days_for(location_ids: list[int]) -> dict[int, dict[str, int]]:
    """Each location's stall limit per urgency: its own rows over the defaults (one query)."""
    defaults = referral_rules().stall_days
    limits = {pk: dict(defaults) for pk in location_ids}
    for row in StallLimit.objects.filter(location_id__in=location_ids):
        limits[row.location_id][row.urgency] = row.days
    return limits


def stalled_condition(location_ids: list[int], now: datetime) -> Q:
    """Open referrals with no change for longer than their urgency's limit at their
    location (clinical.referrals.stall_cutoff), as one SQL condition."""
    condition = Q(pk__in=[])
    for location_id, limits in stall_days_for(location_ids).items():
        for urgency, days in limits.items():
            condition |= Q(
                location_id=location_id,
                urgency=urgency,
                last_changed_at__lt=stall_cutoff(now, days),
            )
    return condition & Q(state__in=sorted(referral_rules().open_states))


def _with_parts(referrals: QuerySet[Referral]) -> QuerySet[Referral]:
    return referrals.select_related("patient", "location", "resource", "created_by")


def stalled_referrals(user: User, *, location_id: int | None = None) -> QuerySet[Referral]:
    """Stalled referrals of the patients `user` may see, the longest waiting first."""
    location_ids = list(locations_for(user).values_list("pk", flat=True))
    if location_id is not None:
        location_ids = [pk for pk in location_ids if pk == location_id]
    now = timezone.now()
    referrals = Referral.objects.filter(
        patient_scope(user, via="patient"), stalled_condition(location_ids, now)
    )
    return _with_parts(referrals).order_by("last_changed_at", "id")


def referral_is_stalled(referral: Referral, now: datetime | None = None) -> bool:
    """The same rule for one referral (its page's badge)."""
    now = now or timezone.now()
    return (
        Referral.objects.filter(pk=referral.pk)
        .filter(stalled_condition([referral.location_id], now))
        .exists()
    )


def patient_referrals(patient: Patient) -> QuerySet[Referral]:
    """The patient's referrals, newest first, each with its history (three queries)."""
    events = ReferralEvent.objects.order_by("at", "id")
    return _with_parts(Referral.objects.filter(patient=patient)).prefetch_related(
        Prefetch("events", queryset=events)
    )


def referral_get_for_user(user: User, referral_id: int) -> Referral:
    """One referral of a patient `user` may see, else 404."""
    referral = (
        _with_parts(Referral.objects.filter(patient_scope(user, via="patient"), pk=referral_id))
        .select_related("patient__primary_location", "from_alert")
        .first()
    )
    if referral is None:
        raise Http404("No such referral")
    return referral
