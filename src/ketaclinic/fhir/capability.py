"""The CapabilityStatement at /fhir/metadata and the SMART configuration: what the API offers,
drawn from the same registry the API serves from (`types.py`)."""

from __future__ import annotations

from typing import Any

from ketaclinic.fhir.codes import PROFILES
from ketaclinic.fhir.types import TYPES

FHIR_VERSION = "4.0.1"
PARAM_TYPES = {
    "_id": "token",
    "_lastUpdated": "date",
    "_count": "number",
    "_offset": "number",
    "patient": "reference",
    "subject": "reference",
    "code": "token",
    "category": "token",
    "date": "date",
    "authored": "date",
    "identifier": "token",
    "name": "string",
    "family": "string",
    "given": "string",
    "birthdate": "date",
    "gender": "token",
}


def capability_statement(base: str) -> dict[str, Any]:
    resources = []
    for name, kind in TYPES.items():
        entry: dict[str, Any] = {
            "type": name,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": param, "type": PARAM_TYPES[param]}
                for param in sorted(kind.search_params)
                if param not in {"_count", "_offset"}
            ],
        }
        if name in PROFILES:
            entry["supportedProfile"] = [PROFILES[name]]
        if name == "Observation":
            entry["supportedProfile"] = [
                PROFILES[key]
                for key in (
                    "vital-signs",
                    "blood-pressure",
                    "heart-rate",
                    "respiratory-rate",
                    "pulse-oximetry",
                    "body-weight",
                    "body-height",
                    "bmi",
                    "screening-assessment",
                )
            ]
        if name == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                },
                {
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
                },
            ]
        if name == "Group":
            entry["operation"] = [
                {
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-04",
        "kind": "instance",
        "software": {"name": "ketaclinic"},
        "implementation": {"description": "ketaclinic FHIR R4 API", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "instantiates": ["http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server"],
        "implementationGuide": [
            "http://hl7.org/fhir/us/core/ImplementationGuide/hl7.fhir.us.core|6.1.0",
            "http://hl7.org/fhir/uv/bulkdata/ImplementationGuide/hl7.fhir.uv.bulkdata|3.0.0",
        ],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": (
                        "OAuth2 client credentials at /fhir/auth/token for system/ scopes, or "
                        "a signed-in staff session."
                    ),
                },
                "resource": resources,
                "operation": [
                    {
                        "name": "export",
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                    }
                ],
            }
        ],
    }


def smart_configuration(base: str) -> dict[str, Any]:
    return {
        "token_endpoint": f"{base}/auth/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["system/*.read"] + [f"system/{name}.read" for name in TYPES],
        "capabilities": ["client-confidential-symmetric"],
    }
