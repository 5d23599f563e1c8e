from django.urls import path

from ketaclinic.eligibility import views

app_name = "eligibility"

urlpatterns = [
    path("patients/<int:patient_id>/intake/new/", views.intake_start, name="intake_start"),
    path(
        "patients/<int:patient_id>/intake/<int:intake_id>/review/",
        views.intake_review,
        name="intake_review",
    ),
    path(
        "patients/<int:patient_id>/intake/<int:intake_id>/<slug:step>/",
        views.intake_step,
        name="intake_step",
    ),
    path("patients/<int:patient_id>/consent/", views.consent, name="consent"),
    path(
        "patients/<int:patient_id>/consent/<int:signature_id>/witness/",
        views.consent_witness,
        name="consent_witness",
    ),
    path("portal/consent/", views.portal_consent, name="portal_consent"),
    path("consent/documents/", views.consent_documents, name="consent_documents"),
    path("eligibility/rules/", views.rules, name="rules"),
    path("eligibility/rules/<slug:eligibility_rule>/", views.rule_change, name="rule_change"),
]
