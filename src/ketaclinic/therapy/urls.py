from django.urls import path

from ketaclinic.therapy import views

app_name = "therapy"

THERAPY = "patients/<int:patient_id>/therapy/"
NOTE = THERAPY + "notes/<int:therapy_note_id>/"

urlpatterns = [
    path("therapy/settings/", views.settings_view, name="settings"),
    path(THERAPY, views.tab, name="tab"),
    path(THERAPY + "book/", views.book, name="book"),
    path(THERAPY + "notes/new/", views.note_new, name="note_new"),
    path(NOTE, views.note, name="note"),
    path(NOTE + "sign/", views.note_sign, name="note_sign"),
    path(NOTE + "addendum/", views.note_addendum, name="note_addendum"),
    path(THERAPY + "psychotherapy-notes/", views.psychotherapy_notes, name="psychotherapy_notes"),
    path(
        THERAPY + "psychotherapy-notes/<int:psychotherapy_note_id>/",
        views.psychotherapy_note,
        name="psychotherapy_note",
    ),
]
