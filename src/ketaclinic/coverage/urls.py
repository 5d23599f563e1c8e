from django.urls import path

from ketaclinic.coverage import views

app_name = "coverage"

urlpatterns = [
    path(
        "patients/<int:patient_id>/coverage/",
        views.patient_prior_auths,
        name="patient",
    ),
    path(
        "patients/<int:patient_id>/coverage/<int:prior_auth_id>/",
        views.prior_auth,
        name="prior_auth",
    ),
    path("coverage/payers/", views.payers, name="payers"),
]
