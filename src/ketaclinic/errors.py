"""Error pages in the clinic's layout, with no detail that would help someone probing."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

# The JSON API answers in JSON, also for an address it has no route for.
API_PREFIX = "/api/"


def forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "errors/403.html", {"message": str(exception)}, status=403)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found"}, status=404)
    return render(request, "errors/404.html", status=404)
