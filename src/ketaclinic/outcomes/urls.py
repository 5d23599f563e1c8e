from django.urls import path

from ketaclinic.outcomes import views

app_name = "outcomes"

urlpatterns = [
    path("outcomes/", views.cohort, name="cohort"),
    path("outcomes/summary.csv", views.summary_csv, name="summary_csv"),
    path("outcomes/report.pdf", views.summary_pdf, name="summary_pdf"),
    path("outcomes/patients.csv", views.patients_csv, name="patients_csv"),
    path("outcomes/definitions/", views.definitions, name="definitions"),
    path("outcomes/gaps/", views.gaps, name="gaps"),
    path("patients/<int:patient_id>/outcomes/", views.patient, name="patient"),
]
