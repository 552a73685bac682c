"""``/api/v1/enroll``, ``/api/v1/certificates/renew`` and ``/api/v1/ca.pem``: participants' side."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from .. import enrollment
from ..db.models import Certificate
from ..schemas import CertificateIssued, EnrollRequest, RenewRequest
from .deps import AuthorizationDep, CADep, CurrentParticipant, SessionDep, SettingsDep
from .problems import problems

__all__ = ["router"]

router = APIRouter(tags=["enrollment"])


def _issued(cert: Certificate, ca_pem: bytes) -> CertificateIssued:
    return CertificateIssued(
        participant_id=cert.participant_id,
        serial=cert.serial,
        certificate_pem=cert.pem,
        ca_pem=ca_pem.decode("ascii"),
        not_after=cert.not_after,
    )


@router.post(
    "/enroll",
    status_code=status.HTTP_201_CREATED,
    response_model=CertificateIssued,
    responses=problems(401, 403, 410),
)
async def enroll(
    body: EnrollRequest,
    session: SessionDep,
    ca: CADep,
    settings: SettingsDep,
    authorization: AuthorizationDep,
) -> CertificateIssued:
    """Trade a one-time token and a CSR for a certificate.

    401: unknown token; 410: token used or expired; 403: participant revoked; 422: bad CSR.
    """
    cert = await enrollment.enroll(
        session, ca, token=body.token, csr_pem=body.csr_pem, lifetime_s=settings.cert_lifetime_s
    )
    await authorization.sync()
    return _issued(cert, ca.cert_pem)


@router.post(
    "/certificates/renew",
    status_code=status.HTTP_201_CREATED,
    response_model=CertificateIssued,
    responses=problems(401, 403),
)
async def renew_certificate(
    body: RenewRequest,
    participant: CurrentParticipant,
    session: SessionDep,
    ca: CADep,
    settings: SettingsDep,
) -> CertificateIssued:
    """A new certificate for the participant whose current certificate made this TLS connection.

    401: no client certificate; 403: certificate unknown, revoked or expired, or participant
    revoked; 422: bad CSR.
    """
    cert = await enrollment.renew(
        session, ca, participant, csr_pem=body.csr_pem, lifetime_s=settings.cert_lifetime_s
    )
    return _issued(cert, ca.cert_pem)


@router.get(
    "/ca.pem", response_class=Response, responses={200: {"content": {"application/x-pem-file": {}}}}
)
async def ca_certificate(ca: CADep) -> Response:
    """The CA certificate every party trusts (public)."""
    return Response(ca.cert_pem, media_type="application/x-pem-file")
