from django.urls import path

from ketaclinic.measures import views

app_name = "measures"

urlpatterns = [
    path("patients/<int:patient_id>/scores/", views.scores, name="scores"),
    path(
        "patients/<int:patient_id>/scores/record/<slug:instrument_key>/",
        views.record,
        name="record",
    ),
    path("patients/<int:patient_id>/scores/send/", views.send, name="send"),
    path("patients/<int:patient_id>/scores/schedule/", views.schedule, name="schedule"),
    path(
        "patients/<int:patient_id>/scores/schedule/<int:rule_id>/stop/",
        views.schedule_stop,
        name="schedule_stop",
    ),
    path("alerts/", views.worklist, name="worklist"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert"),
    path("questionnaires/due/", views.due, name="due"),
    path("q/<str:token>/", views.self_report, name="self_report"),
    path("portal/questionnaires/<int:request_id>/", views.portal_answer, name="portal_answer"),
]
