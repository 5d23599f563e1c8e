from django.urls import path

from ketaclinic.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "appointments/<int:appointment_id>/change/",
        views.appointment_change,
        name="appointment_change",
    ),
]
