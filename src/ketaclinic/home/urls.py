from django.urls import path

from ketaclinic.home import views

app_name = "home"

urlpatterns = [
    path("", views.home, name="home"),
    path("coordinator/", views.home_coordinator, name="home_coordinator"),
    path("nurse/", views.home_nurse, name="home_nurse"),
    path("prescriber/", views.home_prescriber, name="home_prescriber"),
    path("director/", views.home_director, name="home_director"),
    path("administration/", views.home_admin, name="home_admin"),
    path("therapist/", views.home_therapist, name="home_therapist"),
]
