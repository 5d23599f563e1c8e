from django.urls import include, path

from ketaclinic.api import api
from ketaclinic.operations.health import healthz

urlpatterns = [
    path("", include("ketaclinic.home.urls")),
    path("", include("ketaclinic.accounts.urls")),
    path("patients/", include("ketaclinic.patients.urls")),
    path("portal/", include("ketaclinic.portal.urls")),
    path("", include("ketaclinic.measures.urls")),
    path("", include("ketaclinic.eligibility.urls")),
    path("", include("ketaclinic.treatment.urls")),
    path("", include("ketaclinic.charting.urls")),
    path("", include("ketaclinic.outcomes.urls")),
    path("register/", include("ketaclinic.register.urls")),
    path("", include("ketaclinic.scheduling.urls")),
    path("", include("ketaclinic.therapy.urls")),
    path("", include("ketaclinic.referrals.urls")),
    path("", include("ketaclinic.billing.urls")),
    path("", include("ketaclinic.coverage.urls")),
    path("api/", api.urls),
    path("", include("ketaclinic.fhir.urls")),
    path("healthz", healthz, name="healthz"),
]

handler403 = "ketaclinic.errors.forbidden"
handler404 = "ketaclinic.errors.not_found"
