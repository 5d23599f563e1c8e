from django.contrib.auth import views as auth_views
from django.urls import path

from ketaclinic.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/2fa/", views.two_factor, name="two_factor"),
    path("coordinator/", views.home_coordinator, name="home_coordinator"),
    path("nurse/", views.home_nurse, name="home_nurse"),
    path("prescriber/", views.home_prescriber, name="home_prescriber"),
    path("director/", views.home_director, name="home_director"),
    path("administration/", views.home_admin, name="home_admin"),
    path("administration/users/", views.users, name="users"),
    path("administration/lockouts/", views.lockouts, name="lockouts"),
    path("administration/lockouts/lift/", views.lockout_lift_view, name="lockout_lift"),
    path("location/", views.location_switch, name="location_switch"),
]
