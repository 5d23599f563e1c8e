"""The FHIR R4 API under /fhir/ (docs/fhir.md): thin views over selectors and services.

Every answer is `application/fhir+json`; every error is an OperationOutcome. Reads need a
bearer token with a `system/` scope or a signed-in staff session, and are audited as the
pages' reads are. Another location's record is 404, as on the pages.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import AuditEvent, audit_record_events
from ketaclinic.fhir import selectors, services
from ketaclinic.fhir.auth import (
    TOKEN_LIFETIME,
    AuthError,
    Caller,
    caller_of,
    client_authenticate,
    token_issue,
)
from ketaclinic.fhir.capability import capability_statement, smart_configuration
from ketaclinic.fhir.models import ExportFile, ExportJob, ExportLevel, ExportStatus
from ketaclinic.fhir.selectors import SearchError, patient_of
from ketaclinic.fhir.types import TYPES

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"


def fhir_response(body: dict[str, Any], status: int = 200, **headers: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type=FHIR_JSON
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def outcome(status: int, code: str, message: str, **headers: str) -> HttpResponse:
    """An OperationOutcome: what went wrong, in one sentence."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }
    return fhir_response(body, status, **headers)


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir").rstrip("/")


View = Callable[..., HttpResponse]


def fhir_view(view: Callable[..., HttpResponse]) -> View:
    """Authenticate the caller (bearer or session), turn refusals into OperationOutcomes.

    A request with a bearer token carries no cookie authority, so it needs no CSRF token; a
    session's unsafe request still does.
    """

    @csrf_exempt
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            caller = caller_of(request)
        except AuthError as error:
            headers = (
                {"WWW_Authenticate": 'Bearer realm="ketaclinic"'} if error.status == 401 else {}
            )
            return outcome(error.status, error.code, str(error), **headers)

        def run(request: HttpRequest) -> HttpResponse:
            try:
                return view(request, caller, *args, **kwargs)
            except PermissionDenied as error:
                return outcome(403, "forbidden", str(error) or "Your role may not do this.")
            except (SearchError, ValidationError) as error:
                message = (
                    "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
                )
                return outcome(400, "invalid", message)

        if caller.client is None and request.method not in {"GET", "HEAD", "OPTIONS"}:
            return csrf_protect(run)(request)
        return run(request)

    return wrapped


def _audit(
    caller: Caller, resources: list[dict[str, Any]], what: str, detail: dict[str, Any]
) -> None:
    """One entry per patient whose record was read (one for clinic resources)."""
    patients = sorted({p for r in resources if (p := patient_of(r)) is not None})
    detail = dict(detail, client=caller.client.client_id if caller.client else "")
    events = [
        AuditEvent(action=AuditAction.API_READ, patient_id=p, object_type=what, detail=detail)
        for p in patients
    ] or [AuditEvent(action=AuditAction.API_READ, object_type=what, detail=detail)]
    audit_record_events(actor=caller.user, events=events)


def _require_scope(caller: Caller, type_name: str, interaction: str) -> None:
    if not caller.may(type_name, interaction):
        verb = "read" if interaction == "r" else "search"
        raise PermissionDenied(
            f"The token has no scope to {verb} {type_name} (ask for system/{type_name}.read)."
        )


def _query_params(request: HttpRequest) -> dict[str, list[str]]:
    return {key: request.GET.getlist(key) for key in request.GET}


# Conformance and tokens ----------------------------------------------------------------------


@require_http_methods(["GET"])
def metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement: open to anyone, as FHIR asks."""
    return fhir_response(capability_statement(_base(request)))


@require_http_methods(["GET"])
def smart_config(request: HttpRequest) -> HttpResponse:
    return JsonResponse(smart_configuration(_base(request)))


@csrf_exempt  # a client-credentials request carries no cookie; the secret is the proof
@require_http_methods(["POST"])
def token(request: HttpRequest) -> HttpResponse:
    """OAuth2 client credentials: a short-lived bearer token for system scopes."""

    def refuse(error: str, description: str, status: int = 400) -> JsonResponse:
        response = JsonResponse({"error": error, "error_description": description}, status=status)
        response["Cache-Control"] = "no-store"
        return response

    if request.POST.get("grant_type") != "client_credentials":
        return refuse("unsupported_grant_type", "Use grant_type=client_credentials.")
    client_id = request.POST.get("client_id", "")
    secret = request.POST.get("client_secret", "")
    if request.headers.get("Authorization", "").lower().startswith("basic "):
        try:
            decoded = base64.b64decode(request.headers["Authorization"][6:]).decode()
            client_id, _, secret = decoded.partition(":")
        except (ValueError, UnicodeDecodeError):
            return refuse("invalid_client", "The Basic credentials cannot be read.", 401)
    client = client_authenticate(client_id, secret)
    if client is None:
        return refuse("invalid_client", "Unknown client or wrong secret.", 401)
    requested = request.POST.get("scope", "").split()
    try:
        issued, row = token_issue(client, requested)
    except AuthError as error:
        return refuse("invalid_scope", str(error))
    response = JsonResponse(
        {
            "access_token": issued,
            "token_type": "bearer",
            "expires_in": int(TOKEN_LIFETIME.total_seconds()),
            "scope": " ".join(row.scopes),
        }
    )
    response["Cache-Control"] = "no-store"
    return response


# Reads and searches --------------------------------------------------------------------------


def _bundle(request: HttpRequest, resources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    base = _base(request)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        **extra,
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


@fhir_view
def search(request: HttpRequest, caller: Caller, type_name: str) -> HttpResponse:
    if type_name not in TYPES:
        return outcome(404, "not-supported", f"ketaclinic serves no {type_name} resources.")
    if request.method != "GET":
        return outcome(405, "not-supported", "The FHIR API is read-only.")
    _require_scope(caller, type_name, "s")
    params = _query_params(request)
    page = selectors.search(caller.user, type_name, params)
    _audit(caller, page.resources, f"fhir:{type_name}", {"search": request.GET.urlencode()[:500]})
    body = _bundle(
        request,
        page.resources,
        total=page.total,
        link=selectors.search_links(f"{_base(request)}/{type_name}", params, page),
    )
    return fhir_response(body)


@fhir_view
def read(request: HttpRequest, caller: Caller, type_name: str, resource_id: str) -> HttpResponse:
    if type_name not in TYPES:
        return outcome(404, "not-supported", f"ketaclinic serves no {type_name} resources.")
    if request.method != "GET":
        return outcome(405, "not-supported", "The FHIR API is read-only.")
    _require_scope(caller, type_name, "r")
    resource = selectors.read(caller.user, type_name, resource_id)
    if resource is None:
        return outcome(404, "not-found", f"No {type_name}/{resource_id} that you may read.")
    _audit(caller, [resource], f"fhir:{type_name}", {"id": resource_id})
    return fhir_response(resource)


@fhir_view
def everything(request: HttpRequest, caller: Caller, patient_id: str) -> HttpResponse:
    """Patient $everything: the whole record as one Bundle, of the types the token covers."""
    if request.method != "GET":
        return outcome(405, "not-supported", "The FHIR API is read-only.")
    _require_scope(caller, "Patient", "r")
    if not patient_id.isdigit():
        return outcome(404, "not-found", f"No Patient/{patient_id} that you may read.")
    resources = selectors.everything(caller.user, int(patient_id))
    if resources is None:
        return outcome(404, "not-found", f"No Patient/{patient_id} that you may read.")
    resources = [r for r in resources if caller.may(r["resourceType"], "r")]
    _audit(caller, resources, "fhir:$everything", {"resources": len(resources)})
    return fhir_response(_bundle(request, resources, total=len(resources)))


# Bulk export ---------------------------------------------------------------------------------


def _since(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise SearchError(f"_since must be a FHIR instant, not {value!r}.") from error
    if moment.tzinfo is None:
        raise SearchError("_since needs a time zone (an instant, e.g. 2026-01-01T00:00:00Z).")
    return moment


def _kick_off(request: HttpRequest, caller: Caller, level: str, group_id: str = "") -> HttpResponse:
    # Who may export is answered before what was asked, so a refusal says nothing more.
    if not caller.user.can("fhir.export"):
        raise PermissionDenied("Your role may not export records in bulk (fhir.export).")
    if request.headers.get("Prefer", "").replace(" ", "") != "respond-async":
        return outcome(400, "invalid", "A bulk export needs the header Prefer: respond-async.")
    output_format = request.GET.get("_outputFormat", NDJSON)
    if output_format not in {NDJSON, "application/ndjson", "ndjson"}:
        return outcome(400, "not-supported", "Only NDJSON output is offered.")
    unknown = set(request.GET) - {"_type", "_since", "_outputFormat"}
    if unknown:
        return outcome(400, "not-supported", f"Not supported here: {', '.join(sorted(unknown))}.")
    types = [t for value in request.GET.getlist("_type") for t in value.split(",") if t]
    job = services.export_kick_off(
        actor=caller.user,
        client=caller.client,
        level=level,
        request_url=request.build_absolute_uri(),
        group_id=group_id,
        types=types or None,
        since=_since(request.GET.get("_since", "")),
        may=lambda type_name: caller.may(type_name, "r"),
    )
    status_url = request.build_absolute_uri(reverse("fhir:export_status", args=[job.pk]))
    return HttpResponse(status=202, headers={"Content-Location": status_url})


@fhir_view
def export_system(request: HttpRequest, caller: Caller) -> HttpResponse:
    return _kick_off(request, caller, ExportLevel.SYSTEM)


@fhir_view
def export_patients(request: HttpRequest, caller: Caller) -> HttpResponse:
    return _kick_off(request, caller, ExportLevel.PATIENT)


@fhir_view
def export_group(request: HttpRequest, caller: Caller, group_id: str) -> HttpResponse:
    if selectors.read(caller.user, "Group", group_id) is None:
        return outcome(404, "not-found", f"No Group/{group_id} that you may read.")
    return _kick_off(request, caller, ExportLevel.GROUP, group_id)


def _jobs_of(caller: Caller) -> QuerySet[ExportJob]:
    """Only the requester (and the client that asked) may see a job."""
    return ExportJob.objects.filter(requested_by=caller.user, client=caller.client)


@fhir_view
def export_status(request: HttpRequest, caller: Caller, job_id: UUID) -> HttpResponse:
    job = _jobs_of(caller).filter(pk=job_id).first()
    if job is None:
        return outcome(404, "not-found", "No such export of yours.")
    if request.method == "DELETE":
        services.export_cancel(actor=caller.user, job=job)
        return HttpResponse(status=202)
    if request.method != "GET":
        return outcome(405, "not-supported", "Poll with GET, cancel with DELETE.")
    if job.status in {ExportStatus.QUEUED, ExportStatus.RUNNING}:
        progress = f"{job.progress_percent}%" + (
            f": {job.progress_text}" if job.progress_text else ""
        )
        return HttpResponse(status=202, headers={"X-Progress": progress, "Retry-After": "2"})
    if job.status == ExportStatus.FAILED:
        return outcome(500, "exception", f"The export failed: {job.error}")
    if job.status in {ExportStatus.CANCELLED, ExportStatus.EXPIRED}:
        return outcome(404, "not-found", f"This export is {job.get_status_display().lower()}.")
    files = job.files.order_by("resource_type", "number").values("pk", "resource_type", "count")
    manifest = {
        "transactionTime": job.started_at.isoformat(timespec="seconds") if job.started_at else "",
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {
                "type": f["resource_type"],
                "url": request.build_absolute_uri(reverse("fhir:export_file", args=[f["pk"]])),
                "count": f["count"],
            }
            for f in files
        ],
        "error": [],
    }
    return JsonResponse(
        manifest, headers={"Expires": job.expires_at.isoformat() if job.expires_at else ""}
    )


@fhir_view
def export_file(request: HttpRequest, caller: Caller, file_id: int) -> HttpResponse:
    from_job = _jobs_of(caller).filter(files__pk=file_id, status=ExportStatus.DONE).first()
    if from_job is None:
        return outcome(404, "not-found", "No such export file of yours (it may have expired).")
    file = from_job.files.get(pk=file_id)
    audit_record_events(
        actor=caller.user,
        events=[
            AuditEvent(
                action=AuditAction.EXPORT,
                object_type="fhir_export_file",
                object_id=str(file.pk),
                detail={"job": str(from_job.pk), "type": file.resource_type, "count": file.count},
            )
        ],
    )
    return HttpResponse(file.content, content_type=NDJSON)


# The director's page -------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def exports_page(request: HttpRequest) -> HttpResponse:
    """Bulk exports: start one of every patient, watch its progress, download its files."""
    if not request.user.can("fhir.export"):
        raise PermissionDenied("Your role may not export records in bulk.")
    if request.method == "POST":
        services.export_kick_off(
            actor=request.user,
            client=None,
            level=ExportLevel.SYSTEM,
            request_url=request.build_absolute_uri("/fhir/$export"),
        )
        return redirect("fhir:exports")
    jobs = (
        ExportJob.objects.filter(requested_by=request.user, client=None)
        .annotate(file_count=Count("files"))
        .prefetch_related(
            Prefetch(
                "files",
                queryset=ExportFile.objects.defer("content").order_by("resource_type", "number"),
            )
        )
        .order_by("-created_at")
    )
    page = Paginator(jobs, settings.KETACLINIC_PAGE_SIZE).get_page(request.GET.get("page"))
    running = any(job.status in {ExportStatus.QUEUED, ExportStatus.RUNNING} for job in page)
    template = "fhir/_export_rows.html" if request.htmx else "fhir/exports.html"
    return render(request, template, {"page": page, "running": running})
