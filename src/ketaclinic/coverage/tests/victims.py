"""One prior authorization of a patient, for the break-in walk."""

from typing import Any

from ketaclinic.coverage.models import Payer
from ketaclinic.coverage.services import prior_auth_draft


def victim_records(patient: Any, director: Any, clinic: dict[str, Any]) -> dict[str, int]:
    payer = Payer.objects.filter(name="Walk Health").first() or Payer.objects.create(
        name="Walk Health", checklist_key="iv-ketamine", created_by=director
    )
    request = prior_auth_draft(actor=director, patient=patient, payer=payer, member_id="W-1")
    return {"prior_auth_id": request.pk}
