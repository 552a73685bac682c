"""``/api/v1/enroll`` and ``/api/v1/ca.pem``: what a participant needs before it has a cert.

Enrollment authenticates with the one-time token in the body, so it passes through the gateway
like any request. Certificate renewal needs the participant's current certificate over mutual
TLS and stays at the registry, which verifies it itself.
"""

from __future__ import annotations

from consortium_registry.schemas import CertificateIssued, EnrollRequest
from consortium_service.problems import problems
from fastapi import APIRouter, Response, status

from .deps import ServicesDep

__all__ = ["router"]

router = APIRouter(tags=["enrollment"])


@router.post(
    "/enroll",
    status_code=status.HTTP_201_CREATED,
    response_model=CertificateIssued,
    responses=problems(401, 403, 410, 422),
)
async def enroll(body: EnrollRequest, services: ServicesDep) -> Response:
    """Exchange a one-time token and a CSR for a client certificate."""
    return await services.registry.relay(
        "POST", "/api/v1/enroll", json=body.model_dump(mode="json")
    )


@router.get(
    "/ca.pem", response_class=Response, responses={200: {"content": {"application/x-pem-file": {}}}}
)
async def ca_certificate(services: ServicesDep) -> Response:
    """The platform CA's certificate (PEM), to verify the gateway and NATS."""
    return await services.registry.relay("GET", "/api/v1/ca.pem")
