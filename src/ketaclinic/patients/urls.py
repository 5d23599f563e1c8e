from django.urls import path

from ketaclinic.patients import views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_register, name="register"),
    path("import/", views.patient_import, name="import"),
    path("import/<int:import_id>/", views.patient_import_review, name="import_review"),
    path("import/<int:import_id>/run/", views.patient_import_run, name="import_run"),
    path("import/<int:import_id>/discard/", views.patient_import_discard, name="import_discard"),
    path("<int:patient_id>/", views.chart, name="chart"),
    path("<int:patient_id>/history/", views.chart_history, name="history"),
    path("<int:patient_id>/measurements/", views.chart_measurements, name="measurements"),
    path("<int:patient_id>/access/", views.chart_access, name="access"),
    path("<int:patient_id>/edit/", views.patient_edit, name="edit"),
    path("<int:patient_id>/add/<slug:kind>/", views.history_add, name="add"),
    path("<int:patient_id>/allergies/nkda/", views.nkda_verify, name="nkda_verify"),
    path("<int:patient_id>/care-team/", views.care_team, name="care_team"),
]
