"""The register's pages: reports and the director's dashboard (urls_reports) and the
director's stock operations (urls_manage)."""

from ketaclinic.register import urls_manage, urls_reports

app_name = "register"

urlpatterns = [*urls_reports.urlpatterns, *urls_manage.urlpatterns]
