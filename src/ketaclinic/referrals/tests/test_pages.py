"""Referral pages through Django's test client: bad input, refusals, other locations, the
stalled list at its boundaries, query counts, the chart tab and the portal."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ketaclinic.audit.models import AuditEntry
from ketaclinic.referrals import services
from ketaclinic.referrals.models import Referral, ReferralEvent, ReferralResource
from ketaclinic.referrals.tests.conftest import add_resource, raise_alert

pytestmark = pytest.mark.django_db

# A Sunday evening in Denver, so nothing here leans on a weekday.
NOW = datetime.fromisoformat("2026-12-06T21:45:00-07:00")


def _refer(
    actor: Any, patient: Any, resource: Any, urgency: str = "routine", **kw: Any
) -> Referral:
    return services.referral_create(
        actor=actor, patient=patient, resource=resource, reason="Therapy.", urgency=urgency, **kw
    )


def test_a_referral_without_a_reason_is_a_400_with_a_message_and_nothing_saved(
    client: Client, clinic: Any, directory: Any
) -> None:
    client.force_login(clinic["nurse"])
    url = reverse("referrals:new", args=[clinic["patient_slc"].pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"resource": directory["therapist"].pk, "reason": "", "urgency": "soon", "note": "x"}
    )
    assert response.status_code == 400
    assert "Give the reason for the referral." in response.content.decode()
    assert not Referral.objects.exists()
    response = client.post(
        url, {"resource": directory["therapist"].pk, "reason": "Weekly therapy.", "urgency": "soon"}
    )
    referral = Referral.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "referrals:referral", args=[referral.pk]
    )


def test_an_invalid_transition_is_refused_on_the_page(
    client: Client, clinic: Any, directory: Any
) -> None:
    referral = _refer(clinic["nurse"], clinic["patient_slc"], directory["therapist"])
    client.force_login(clinic["coordinator"])
    url = reverse("referrals:referral", args=[referral.pk])
    response = client.post(url, {"to_state": "accepted"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A sent referral cannot be marked accepted" in html
    referral.refresh_from_db()
    assert referral.state == "sent" and referral.events.count() == 1
    response = client.post(url, {"to_state": "closed", "note": ""})
    assert response.status_code == 302
    response = client.post(url, {"to_state": "accepted"})
    assert response.status_code == 400
    assert "A closed referral cannot change any more." in response.content.decode()
    referral.refresh_from_db()
    assert referral.state == "closed" and referral.events.count() == 2


def test_other_locations_get_404(client: Client, clinic: Any, directory: Any) -> None:
    referral = _refer(clinic["nurse"], clinic["patient_slc"], directory["therapist"])
    alert = raise_alert(clinic["nurse"], clinic["patient_slc"])
    client.force_login(clinic["nurse_boise"])
    patient = clinic["patient_slc"].pk
    for url in [
        reverse("referrals:patient", args=[patient]),
        reverse("referrals:new", args=[patient]),
        reverse("referrals:referral", args=[referral.pk]),
        reverse("referrals:resource_edit", args=[directory["therapist"].pk]),
        f"{reverse('referrals:resources')}?location={clinic['slc'].pk}",
    ]:
        assert client.get(url).status_code in (403, 404), url
    for url, data in [
        (
            reverse("referrals:new", args=[patient]),
            {"reason": "x", "urgency": "routine", "outside_provider": "Y"},
        ),
        (reverse("referrals:referral", args=[referral.pk]), {"to_state": "contacted"}),
        (
            reverse("referrals:crisis_referral", args=[alert.pk]),
            {"crisis-resource": directory["national"].pk, "crisis-note": "x"},
        ),
    ]:
        assert client.post(url, data).status_code == 404, url
    # The therapist sees only their assigned patients: the Boise patient is a 404.
    boise = _refer(clinic["nurse_boise"], clinic["patient_boise"], directory["national"])
    client.force_login(clinic["therapist"])
    assert client.get(reverse("referrals:referral", args=[boise.pk])).status_code == 404
    assert (
        client.get(reverse("referrals:patient", args=[clinic["patient_boise"].pk])).status_code
        == 404
    )
    referral.refresh_from_db()
    assert referral.state == "sent" and Referral.objects.count() == 2
    assert not _acknowledged(alert)


def _acknowledged(alert: Any) -> bool:
    alert.refresh_from_db()
    return alert.acknowledged_at is not None


def test_roles_without_the_capability_get_403(client: Client, clinic: Any, directory: Any) -> None:
    referral = _refer(clinic["nurse"], clinic["patient_slc"], directory["therapist"])
    alert = raise_alert(clinic["nurse"], clinic["patient_slc"])
    patient = clinic["patient_slc"].pk
    # The administrator sees referrals but may not refer or move one.
    client.force_login(clinic["admin"])
    assert client.get(reverse("referrals:patient", args=[patient])).status_code == 200
    assert client.get(reverse("referrals:new", args=[patient])).status_code == 403
    assert (
        client.post(
            reverse("referrals:referral", args=[referral.pk]), {"to_state": "contacted"}
        ).status_code
        == 403
    )
    assert client.get(reverse("referrals:stalled")).status_code == 403
    # A nurse may not keep the directory.
    client.force_login(clinic["nurse"])
    assert client.get(reverse("referrals:resource_new")).status_code == 403
    assert (
        client.get(reverse("referrals:resource_edit", args=[directory["therapist"].pk])).status_code
        == 403
    )
    # A therapist refers but may not acknowledge alerts.
    client.force_login(clinic["therapist"])
    crisis = reverse("referrals:crisis_referral", args=[alert.pk])
    assert (
        client.post(
            crisis, {"crisis-resource": directory["national"].pk, "crisis-note": "x"}
        ).status_code
        == 403
    )
    # A patient reaches none of the staff pages.
    client.force_login(clinic["patient_user"])
    for url in [
        reverse("referrals:resources"),
        reverse("referrals:patient", args=[patient]),
        reverse("referrals:referral", args=[referral.pk]),
        reverse("referrals:stalled"),
    ]:
        assert client.get(url).status_code == 403, url
    # Staff do not open the portal page.
    client.force_login(clinic["nurse"])
    assert client.get(reverse("referrals:portal")).status_code == 403
    # The 988 line has no edit page, even for those who keep the directory.
    client.force_login(clinic["director"])
    assert (
        client.get(reverse("referrals:resource_edit", args=[directory["national"].pk])).status_code
        == 403
    )
    referral.refresh_from_db()
    assert referral.state == "sent" and alert.acknowledged_at is None


def test_stalled_at_the_boundaries_with_a_pinned_clock(
    client: Client, clinic: Any, directory: Any
) -> None:
    nurse, patient = clinic["nurse"], clinic["patient_slc"]
    with time_machine.travel(NOW, tick=False):
        urgent = _refer(nurse, patient, directory["therapist"], "urgent")
        crisis = _refer(nurse, patient, directory["national"], "crisis")
        routine = _refer(nurse, patient, directory["therapist"], "routine")
        closed = _refer(nurse, patient, directory["therapist"], "crisis")
        services.referral_change_status(actor=nurse, referral=closed, to_state="closed")
    client.force_login(nurse)

    def stalled_at(when: datetime) -> set[int]:
        with time_machine.travel(when, tick=False):
            # Logged in at that instant: a session from days before would have expired.
            client.force_login(nurse)
            response = client.get(reverse("referrals:stalled"))
            assert response.status_code == 200
            return {r.pk for r in response.context["page"]}

    assert stalled_at(NOW + timedelta(days=1)) == set()
    assert stalled_at(NOW + timedelta(days=1, microseconds=1)) == {crisis.pk}
    assert stalled_at(NOW + timedelta(days=2)) == {crisis.pk}
    assert stalled_at(NOW + timedelta(days=2, seconds=1)) == {crisis.pk, urgent.pk}
    assert stalled_at(NOW + timedelta(days=14, seconds=1)) == {crisis.pk, urgent.pk, routine.pk}
    # A change restarts the clock.
    with time_machine.travel(NOW + timedelta(days=3), tick=False):
        services.referral_change_status(actor=nurse, referral=urgent, to_state="contacted")
    assert stalled_at(NOW + timedelta(days=4)) == {crisis.pk}
    # The location's own limit replaces the default.
    services.stall_limit_set(
        actor=clinic["coordinator"], location=clinic["slc"], urgency="routine", days=3
    )
    assert stalled_at(NOW + timedelta(days=3, seconds=1)) == {crisis.pk, routine.pk}
    # The home panel is the reminder.
    with time_machine.travel(NOW + timedelta(days=3, seconds=1), tick=False):
        client.force_login(nurse)
        home = client.get("/", follow=True).content.decode()
    assert "Stalled referrals" in home and patient.display_name in home


def _query_count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_list_query_counts_do_not_grow_with_rows(
    client: Client, clinic: Any, directory: Any
) -> None:
    nurse, patient = clinic["nurse"], clinic["patient_slc"]
    with time_machine.travel(NOW, tick=False):
        first = _refer(nurse, patient, directory["therapist"], "crisis")
        services.referral_change_status(actor=nurse, referral=first, to_state="contacted")
    client.force_login(nurse)
    later = NOW + timedelta(days=20)
    urls = [
        reverse("referrals:stalled"),
        reverse("referrals:patient", args=[patient.pk]),
        reverse("referrals:resources"),
        "/nurse/",
    ]
    with time_machine.travel(later, tick=False):
        client.force_login(nurse)
        before = {url: _query_count(client, url) for url in urls}
    with time_machine.travel(NOW, tick=False):
        for index in range(6):
            referral = _refer(nurse, patient, directory["crisis"], "crisis", note=f"n{index}")
            services.referral_change_status(actor=nurse, referral=referral, to_state="contacted")
            add_resource(clinic["director"], clinic["slc"], f"Group {index}", kind="support_group")
    with time_machine.travel(later, tick=False):
        client.force_login(nurse)
        after = {url: _query_count(client, url) for url in urls}
    assert after == before
    client.force_login(clinic["patient_user"])
    one = _query_count(client, reverse("referrals:portal"))
    portal_home = _query_count(client, reverse("portal:home"))
    for _ in range(3):
        _refer(nurse, patient, directory["therapist"])
    assert _query_count(client, reverse("referrals:portal")) == one
    assert _query_count(client, reverse("portal:home")) == portal_home


def test_the_directory_filters_and_lists_988_first(
    client: Client, clinic: Any, directory: Any
) -> None:
    client.force_login(clinic["coordinator"])
    url = reverse("referrals:resources")

    def names(query: str = "") -> list[str]:
        response = client.get(f"{url}?{query}")
        assert response.status_code == 200
        return [r.name for r in response.context["page"]]

    assert names()[0] == "988 Suicide & Crisis Lifeline"
    assert "Treasure Valley Therapy" not in names()
    assert names("kind=therapist") == ["Wasatch Counseling"]
    assert names("language=spanish") == ["988 Suicide & Crisis Lifeline", "Wasatch Counseling"]
    assert "SLC Mobile Crisis" not in names("telehealth=yes")
    services.resource_update(
        actor=clinic["coordinator"], resource=directory["crisis"], data={"is_active": False}
    )
    assert "SLC Mobile Crisis" not in names()
    assert "SLC Mobile Crisis" in names("inactive=on")


def test_add_and_edit_a_resource(client: Client, clinic: Any) -> None:
    client.force_login(clinic["coordinator"])
    url = f"{reverse('referrals:resource_new')}?location={clinic['slc'].pk}"
    data = {"kind": "crisis_line", "name": "", "phone": "(801) 555-0150"}
    response = client.post(url, data)
    assert (
        response.status_code == 400 and not ReferralResource.objects.filter(national=False).exists()
    )
    response = client.post(url, {**data, "name": "Utah Warm Line", "is_active": "on"})
    assert response.status_code == 302
    resource = ReferralResource.objects.get(name="Utah Warm Line")
    assert resource.location == clinic["slc"]
    edit = reverse("referrals:resource_edit", args=[resource.pk])
    response = client.post(edit, {**data, "name": "Utah Warm Line", "hours": "8am-11pm"})
    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.hours == "8am-11pm" and not resource.is_active


def test_the_chart_tab_lists_the_history_and_the_view_is_audited(
    client: Client, clinic: Any, directory: Any
) -> None:
    referral = _refer(clinic["nurse"], clinic["patient_slc"], directory["therapist"])
    services.referral_change_status(
        actor=clinic["nurse"], referral=referral, to_state="contacted", note="Left a voicemail"
    )
    client.force_login(clinic["prescriber"])
    chart = client.get(reverse("patients:chart", args=[clinic["patient_slc"].pk])).content.decode()
    assert reverse("referrals:patient", args=[clinic["patient_slc"].pk]) in chart
    page = client.get(
        reverse("referrals:patient", args=[clinic["patient_slc"].pk])
    ).content.decode()
    assert "Wasatch Counseling" in page and "Left a voicemail" in page
    detail = client.get(reverse("referrals:referral", args=[referral.pk]))
    assert detail.status_code == 200
    assert AuditEntry.objects.filter(
        actor_id=clinic["prescriber"].pk,
        action="view",
        object_type="referral",
        object_id=str(referral.pk),
    ).exists()


def test_the_alert_page_offers_the_one_step_crisis_referral(
    client: Client, clinic: Any, directory: Any
) -> None:
    alert = raise_alert(clinic["nurse"], clinic["patient_slc"])
    client.force_login(clinic["nurse"])
    page = client.get(reverse("measures:alert", args=[alert.pk])).content.decode()
    assert "Acknowledge and refer to crisis resources" in page
    assert "SLC Mobile Crisis" in page and "Treasure Valley" not in page
    url = reverse("referrals:crisis_referral", args=[alert.pk])
    response = client.post(url, {"crisis-resource": directory["national"].pk, "crisis-note": ""})
    assert response.status_code == 400
    assert "Describe what was done" in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_at is None and not Referral.objects.exists()
    response = client.post(
        url,
        {"crisis-resource": directory["crisis"].pk, "crisis-note": "Mobile crisis team coming."},
    )
    referral = Referral.objects.get()
    assert response.status_code == 302 and referral.resource == directory["crisis"]
    alert.refresh_from_db()
    assert alert.action == "crisis_services" and referral.urgency == "crisis"
    # Acknowledged: the offer is gone from the alert page.
    page = client.get(reverse("measures:alert", args=[alert.pk])).content.decode()
    assert "Acknowledge and refer to crisis resources" not in page


def test_the_portal_shows_only_the_patients_own_referrals(
    client: Client, clinic: Any, directory: Any
) -> None:
    own = _refer(clinic["nurse"], clinic["patient_slc"], directory["therapist"])
    other = services.referral_create(
        actor=clinic["nurse_boise"],
        patient=clinic["patient_boise"],
        resource=directory["boise"],
        reason="Therapy.",
        urgency="routine",
    )
    client.force_login(clinic["patient_user"])
    home = client.get(reverse("portal:home"))
    html = home.content.decode()
    assert "Your referrals" in html and "Wasatch Counseling" in html
    assert "Treasure Valley Therapy" not in html and "988" in html
    entry = AuditEntry.objects.filter(
        actor_id=clinic["patient_user"].pk, detail__page="portal_home"
    ).latest("sequence")
    assert entry.detail["referral_ids"] == [own.pk]
    page = client.get(reverse("referrals:portal")).content.decode()
    assert "Wasatch Counseling" in page and "Treasure Valley" not in page
    client.force_login(clinic["patient_user_boise"])
    html = client.get(reverse("portal:home")).content.decode()
    assert "Treasure Valley Therapy" in html and "Wasatch Counseling" not in html
    assert (
        other.pk
        in AuditEntry.objects.filter(
            actor_id=clinic["patient_user_boise"].pk, detail__page="portal_home"
        )
        .latest("sequence")
        .detail["referral_ids"]
    )
    assert ReferralEvent.objects.count() == 2


def test_a_location_sets_its_stall_limits_on_a_page(client: Client, clinic: Any) -> None:
    from ketaclinic.referrals.models import StallLimit

    url = reverse("referrals:stall_limits")
    client.force_login(clinic["nurse"])
    assert client.get(url).status_code == 403
    client.force_login(clinic["coordinator"])
    assert client.get(f"{url}?location={clinic['boise'].pk}").status_code == 404
    assert client.get(url).status_code == 200
    data = {"routine": "14", "soon": "7", "urgent": "2", "crisis": "0"}
    response = client.post(f"{url}?location={clinic['slc'].pk}", data)
    assert response.status_code == 400 and not StallLimit.objects.exists()
    response = client.post(
        f"{url}?location={clinic['slc'].pk}", {**data, "crisis": "1", "routine": "10"}
    )
    assert response.status_code == 302
    assert list(StallLimit.objects.values_list("location_id", "urgency", "days")) == [
        (clinic["slc"].pk, "routine", 10)
    ]
    entry = AuditEntry.objects.get(object_type="referral_stall_limit")
    assert entry.detail["before"] == 14 and entry.detail["after"] == 10
