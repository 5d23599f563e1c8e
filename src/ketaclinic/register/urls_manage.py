"""The director's stock operations (views_manage), under /register/."""

from django.urls import path

from ketaclinic.register import views_manage as views

urlpatterns = [
    path("manage/", views.home, name="manage_home"),
    path("receive/", views.receive, name="manage_receive"),
    path("count/", views.count, name="manage_count"),
    path("counts/<int:count_id>/", views.count_detail, name="manage_count_detail"),
    path("discrepancies/<int:line_id>/resolve/", views.resolve, name="manage_resolve"),
    path("containers/<int:container_id>/transfer/", views.transfer, name="manage_transfer"),
    path("containers/<int:container_id>/destroy/", views.destroy, name="manage_destroy"),
    path("losses/new/", views.loss_new, name="manage_loss_new"),
    path("losses/<int:report_id>/", views.loss, name="manage_loss"),
    path("entries/<int:entry_id>/correct/", views.correct, name="manage_correct"),
]
