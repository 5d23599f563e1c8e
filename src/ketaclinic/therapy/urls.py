from django.urls import URLPattern

app_name = "therapy"

urlpatterns: list[URLPattern] = []
