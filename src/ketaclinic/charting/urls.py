from django.urls import path

from ketaclinic.charting import views

app_name = "charting"

SESSION = "patients/<int:patient_id>/sessions/<int:session_id>/"
PLANNED = "patients/<int:patient_id>/sessions/planned/<int:planned_id>/"

urlpatterns = [
    path("board/", views.board, name="board"),
    path("board/rows/", views.board_rows_view, name="board_rows"),
    path("rems/", views.rems_list, name="rems_list"),
    path("patients/<int:patient_id>/sessions/", views.tab, name="tab"),
    path(PLANNED + "check-in/", views.check_in, name="check_in"),
    path(PLANNED + "cancel/", views.cancel, name="cancel"),
    path(SESSION, views.session_view, name="session"),
    path(SESSION + "live/", views.live, name="live"),
    path(SESSION + "prechecks/", views.prechecks, name="prechecks"),
    path(SESSION + "dose/", views.dose_change, name="dose_change"),
    path(SESSION + "dosing/", views.dosing, name="dosing"),
    path(SESSION + "vitals/", views.vitals, name="vitals"),
    path(SESSION + "scores/", views.score, name="score"),
    path(SESSION + "draws/<int:draw_id>/account/", views.account_draw, name="account_draw"),
    path(SESSION + "side-effects/", views.side_effect, name="side_effect"),
    path(SESSION + "interventions/", views.intervention, name="intervention"),
    path(SESSION + "adverse-events/", views.adverse_event, name="adverse_event"),
    path(SESSION + "entries/<str:kind>/<int:entry_id>/strike/", views.strike, name="entry_strike"),
    path(
        SESSION + "alerts/<int:session_alert_id>/acknowledge/",
        views.alert_acknowledge,
        name="alert_acknowledge",
    ),
    path(SESSION + "confirmations/", views.confirmations, name="confirmations"),
    path(SESSION + "discharge/", views.discharge, name="discharge"),
    path(SESSION + "stop/", views.stop_early, name="stop_early"),
    path(SESSION + "sign/", views.sign_note, name="sign_note"),
    path(SESSION + "cosign/", views.cosign_note, name="cosign_note"),
    path(SESSION + "addendum/", views.addendum, name="addendum"),
    path(SESSION + "discharge-instructions/", views.discharge_instructions, name="instructions"),
    path(SESSION + "rems/", views.rems, name="rems_form"),
    path(SESSION + "rems/submit/", views.rems_submit, name="rems_submit"),
]
