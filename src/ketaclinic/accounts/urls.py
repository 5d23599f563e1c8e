from django.contrib.auth import views as auth_views
from django.urls import path

from ketaclinic.accounts import views

app_name = "accounts"

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/2fa/", views.two_factor, name="two_factor"),
    path("administration/users/", views.users, name="users"),
    path("administration/lockouts/", views.lockouts, name="lockouts"),
    path("administration/lockouts/lift/", views.lockout_lift_view, name="lockout_lift"),
    path("location/", views.location_switch, name="location_switch"),
]
