"""The demo clinic shows an approval running out before its course ends, and a request
still with the payer."""

from datetime import datetime

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.coverage.models import PriorAuthorization
from ketaclinic.operations.demo import seed_demo

pytestmark = pytest.mark.django_db


def test_the_demo_has_an_approval_ending_before_its_course(client: Client) -> None:
    seed_demo(patients=30)
    approved = PriorAuthorization.objects.get(status="approved")
    assert PriorAuthorization.objects.filter(status="sent").exists()
    assert approved.approved_until > timezone.localdate(timezone=approved.location.tz)
    client.force_login(User.objects.get(username="coordinator"))
    page = client.get(
        f"/patients/{approved.patient_id}/courses/{approved.course_id}/book-sessions/"
    ).content.decode()
    assert "PA-553120" in page


@pytest.mark.parametrize("moment", ["2027-01-01T23:30:00-07:00", "2027-03-14T03:30:00-06:00"])
def test_the_demo_coverage_seeds_at_any_hour(moment: str) -> None:
    with time_machine.travel(datetime.fromisoformat(moment), tick=False):
        seed_demo(patients=12)
    assert PriorAuthorization.objects.count() >= 1
