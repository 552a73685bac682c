"""Enrollment and renewal at the registry, over HTTPS that is verified from the first byte.

- :func:`enroll` makes the key pair here (the private key never leaves the machine), sends a
  CSR with the one-time token to ``POST <gateway>/api/v1/enroll`` and stores what comes back,
  after checking that the certificate is for our key and signed by the CA we trust.
- The CA we trust comes from the operator: the CA file itself (``ca_cert_path``), or its SHA-256
  fingerprint (``ca_fingerprint``), in which case ``GET /ca.pem`` is the one request made without
  verification and its answer is accepted only if the fingerprint matches. The token is sent
  only to a gateway whose certificate that CA signed.
- :func:`renew` asks ``POST /certificates/renew`` for a new certificate, authenticated by the
  current one over mutual TLS; :class:`RenewalLoop` does that by itself once 2/3 of the
  lifetime is over, retrying with backoff, and hands each new identity to a callback.

Errors the registry reports (``application/problem+json``) surface as
:class:`RegistryRefusedError` whose text is the problem's ``detail``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import shutil
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .identity import (
    DEFAULT_RENEWAL_FRACTION,
    IDENTITY_FILE,
    KEY_FILE,
    AlreadyEnrolledError,
    CertificateExpiredError,
    CertificateMismatchError,
    CorruptIdentityError,
    Identity,
    IdentityError,
    NotEnrolledError,
    UntrustedCertificateError,
    build_csr,
    certificate_matches_key,
    check_ca_certificate,
    check_fingerprint,
    check_issued_by,
    common_name,
    default_home,
    default_root,
    fingerprint_sha256,
    generate_key,
    load_identity,
    load_private_key,
    normalize_fingerprint,
    parse_certificate,
    write_identity,
)

__all__ = [
    "API_PREFIX",
    "GatewayUrlError",
    "NoTrustAnchorError",
    "RegistryError",
    "RegistryRefusedError",
    "RegistryUnavailableError",
    "RenewalLoop",
    "api_base",
    "enroll",
    "fetch_pinned_ca",
    "gateway_root",
    "load_trusted_ca",
    "problem_detail",
    "renew",
    "retry_delay_s",
]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


class GatewayUrlError(IdentityError, ValueError):
    """A gateway URL that is not ``https://host[:port]`` (the token must never travel in clear)."""


class NoTrustAnchorError(IdentityError):
    """Neither a CA file nor a CA fingerprint was given (or both were): nothing to trust."""


class RegistryError(IdentityError):
    """The registry did not do what was asked; ``status`` is the HTTP status if there was one."""

    def __init__(self, message: str, *, status: int | None = None, title: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.title = title


class RegistryRefusedError(RegistryError):
    """The registry said no (bad, expired or used token; revoked or expired certificate)."""


class RegistryUnavailableError(RegistryError):
    """The gateway could not be reached, or answered with a server error or a malformed body."""


# --- URLs and responses --------------------------------------------------------------------------


def gateway_root(gateway_url: str) -> str:
    """``https://host[:port]`` (plus any path prefix) without a trailing ``/api/v1``.

    >>> gateway_root("https://gw.example:8443/api/v1/")
    'https://gw.example:8443'
    """
    url = gateway_url.strip().rstrip("/")
    parsed = urlsplit(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise GatewayUrlError(
            f"the gateway URL must look like https://host[:port], not {gateway_url!r}"
        )
    return url.removesuffix(API_PREFIX)


def api_base(gateway_url: str) -> str:
    """The registry's API base under the gateway.

    >>> api_base("https://gw.example")
    'https://gw.example/api/v1'
    """
    return gateway_root(gateway_url) + API_PREFIX


def problem_detail(response: httpx.Response) -> str:
    """The human text of an error response: the problem's ``detail`` (or ``title``)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if value:  # e.g. FastAPI's validation errors: a list
                return str(value)
    text = response.text.strip()
    return text[:300] if text else f"HTTP {response.status_code} {response.reason_phrase}"


def _problem_title(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("title", "")) if isinstance(body, dict) else ""


def _ssl_verify_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _transport_error(url: str, exc: httpx.HTTPError) -> IdentityError:
    verify = _ssl_verify_failure(exc)
    if verify is not None:
        return UntrustedCertificateError(
            f"the gateway at {url} presented a certificate the trusted CA did not sign (or for "
            f"another host): {verify.verify_message or verify}; nothing was sent"
        )
    return RegistryUnavailableError(f"gateway not reachable at {url}: {type(exc).__name__}: {exc}")


def _request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise _transport_error(url, exc) from None
    if response.is_success:
        return response
    cls = RegistryRefusedError if 400 <= response.status_code < 500 else RegistryUnavailableError
    raise cls(problem_detail(response), status=response.status_code, title=_problem_title(response))


def _fields(response: httpx.Response, *names: str) -> dict[str, str]:
    try:
        body = response.json()
        return {name: str(body[name]) for name in names}
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryUnavailableError(
            f"the registry's answer to {response.request.url} lacks {exc}: expected {names}",
            status=response.status_code,
        ) from None


# --- the trust anchor ----------------------------------------------------------------------------


def load_trusted_ca(path: Path) -> x509.Certificate:
    """The CA certificate in the file the operator handed out."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise NoTrustAnchorError(f"cannot read the CA file {path}: {exc}") from None
    return check_ca_certificate(parse_certificate(pem, what=f"CA file {path}"))


def fetch_pinned_ca(
    gateway_url: str, fingerprint: str, *, timeout_s: float = 30.0
) -> x509.Certificate:
    """Fetch ``/ca.pem`` without verification (the only such request) and accept the CA only if
    its SHA-256 fingerprint is ``fingerprint``."""
    normalize_fingerprint(fingerprint)  # a typo fails before any network traffic
    url = f"{api_base(gateway_url)}/ca.pem"
    # The one unverified request: its answer is trusted only if the fingerprint matches.
    with httpx.Client(verify=False, timeout=timeout_s) as insecure:
        response = _request(insecure, "GET", url)
    return check_ca_certificate(check_fingerprint(response.content, fingerprint))


def _trust_anchor(
    gateway_url: str, ca_cert_path: Path | None, ca_fingerprint: str | None, timeout_s: float
) -> x509.Certificate:
    if ca_cert_path is not None and ca_fingerprint is not None:
        raise NoTrustAnchorError("give the CA file or its fingerprint, not both")
    if ca_cert_path is not None:
        return load_trusted_ca(Path(ca_cert_path))
    if ca_fingerprint is not None:
        return fetch_pinned_ca(gateway_url, ca_fingerprint, timeout_s=timeout_s)
    raise NoTrustAnchorError(
        "refusing to enroll without a trust anchor: give the CA file the operator handed out "
        "(--ca-cert PATH) or its SHA-256 fingerprint (--ca-fingerprint HEX)"
    )


def _server_context(ca: x509.Certificate) -> ssl.SSLContext:
    ctx = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode("ascii")
    )
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _checked_certificate(
    pem: str,
    *,
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    participant_id: str,
    now: datetime | None,
) -> x509.Certificate:
    cert = parse_certificate(pem, what="certificate from the registry")
    if not certificate_matches_key(cert, key):
        raise CertificateMismatchError(
            "the registry returned a certificate for another key; nothing was stored"
        )
    check_issued_by(cert, ca)
    if common_name(cert) != participant_id:
        raise CertificateMismatchError(
            f"the registry returned a certificate for {common_name(cert)!r}, not {participant_id!r}"
        )
    if (now or datetime.now(UTC)) >= cert.not_valid_after_utc:
        raise CertificateExpiredError(
            f"the registry returned a certificate that expired at {cert.not_valid_after_utc}"
        )
    return cert


# --- enrollment ----------------------------------------------------------------------------------


def _refuse_if_enrolled(home: Path, now: datetime | None) -> None:
    if not (home / IDENTITY_FILE).exists():
        return
    try:
        existing = load_identity(home, now=now)
    except (NotEnrolledError, CorruptIdentityError, CertificateExpiredError) as exc:
        log.info("re-enrolling in %s: %s", home, exc)
        return
    except (CertificateMismatchError, UntrustedCertificateError) as exc:
        log.warning("re-enrolling in %s, replacing an unusable certificate: %s", home, exc)
        return
    raise AlreadyEnrolledError(
        f"{home} already holds the identity of {existing.participant_id}, valid until "
        f"{existing.not_after.isoformat()}; it renews by itself. To enroll anew, use another "
        "--home or remove that directory"
    )


def _key_for(home: Path) -> ec.EllipticCurvePrivateKey:
    if (home / KEY_FILE).exists():
        return load_private_key(home)
    return generate_key(home)


def enroll(
    *,
    gateway_url: str,
    token: str,
    home: Path | None = None,
    participant_id: str | None = None,
    ca_cert_path: Path | None = None,
    ca_fingerprint: str | None = None,
    root: Path | None = None,
    timeout_s: float = 30.0,
    now: datetime | None = None,
) -> Identity:
    """Enroll this machine as a participant and return its :class:`Identity`.

    ``home`` defaults to ``<root>/<participant id>`` (``root`` defaults to ``~/.consortium``);
    without a participant id the key is made in a private staging directory under ``root``
    that is renamed to ``<root>/<assigned id>`` once the registry has said who we are. An
    existing key in ``home`` is reused; a home with a valid identity is refused.
    """
    if not token:
        raise IdentityError("an enrollment token is required (--token)")
    root_url = gateway_root(gateway_url)
    if participant_id is not None:
        default_home(participant_id)  # validates the id before anything else happens
    # Trust first: the token goes only to a gateway that the operator's CA vouches for.
    ca = _trust_anchor(root_url, ca_cert_path, ca_fingerprint, timeout_s)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode("ascii")

    base_dir = root or default_root()
    if home is None and participant_id is not None:
        home = default_home(participant_id, root=base_dir)
    staging: Path | None = None
    if home is None:
        base_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".enrolling-", dir=base_dir))
        work = staging
    else:
        work = home
        _refuse_if_enrolled(work, now)
    try:
        key = _key_for(work)
        csr_pem = build_csr(key, participant_id)
        url = f"{api_base(root_url)}/enroll"
        with httpx.Client(verify=_server_context(ca), timeout=timeout_s) as client:
            response = _request(client, "POST", url, json={"token": token, "csr_pem": csr_pem})
        body = _fields(response, "participant_id", "certificate_pem")
        assigned = body["participant_id"]
        cert = _checked_certificate(
            body["certificate_pem"], key=key, ca=ca, participant_id=assigned, now=now
        )
        if participant_id is not None and participant_id != assigned:
            log.warning(
                "the token enrolls participant %s, not %s as asked; the certificate is for %s",
                assigned,
                participant_id,
                assigned,
            )
        served_ca = response.json().get("ca_pem")
        if served_ca and parse_certificate(served_ca).public_bytes(
            serialization.Encoding.DER
        ) != ca.public_bytes(serialization.Encoding.DER):
            log.warning(
                "the registry names another CA than the one trusted here (%s); keeping ours",
                fingerprint_sha256(ca),
            )
        if staging is not None:
            work = default_home(assigned, root=base_dir)
            if work.exists():
                raise AlreadyEnrolledError(
                    f"{work} already exists; the new identity of {assigned} is in {staging}"
                )
            staging.rename(work)
            staging = None
        write_identity(
            work,
            participant_id=assigned,
            gateway_url=root_url,
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            ca_pem=ca_pem,
        )
    except AlreadyEnrolledError:
        staging = None  # keep the staged identity: the token is spent and it is valid
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    identity = load_identity(work, now=now)
    log.info(
        "enrolled as %s; certificate valid until %s", identity.participant_id, identity.not_after
    )
    return identity


# --- renewal -------------------------------------------------------------------------------------


def renew(identity: Identity, *, timeout_s: float = 30.0, now: datetime | None = None) -> Identity:
    """Get a new certificate for the same key, authenticated by the current one (mutual TLS)."""
    key = load_private_key(identity.home)
    csr_pem = build_csr(key, identity.participant_id)
    url = f"{api_base(identity.gateway_url)}/certificates/renew"
    with httpx.Client(verify=identity.ssl_context_for_client(), timeout=timeout_s) as client:
        response = _request(client, "POST", url, json={"csr_pem": csr_pem})
    body = _fields(response, "certificate_pem")
    cert = _checked_certificate(
        body["certificate_pem"],
        key=key,
        ca=identity.ca_certificate,
        participant_id=identity.participant_id,
        now=now,
    )
    write_identity(
        identity.home,
        participant_id=identity.participant_id,
        gateway_url=identity.gateway_url,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )
    return load_identity(identity.home, now=now)


def retry_delay_s(attempt: int, *, initial_s: float, max_s: float) -> float:
    """Exponential backoff: ``initial_s`` after the first failure, doubling, at most ``max_s``.

    >>> [retry_delay_s(n, initial_s=5, max_s=60) for n in (1, 2, 3, 4, 5)]
    [5.0, 10.0, 20.0, 40.0, 60.0]
    """
    return float(min(max_s, initial_s * 2.0 ** max(0, attempt - 1)))


OnRenewed = Callable[[Identity], Awaitable[None] | None]


class RenewalLoop:
    """Renews the certificate once ``fraction`` of its lifetime is over, without a person.

    Failures are logged and retried with exponential backoff (never later than the expiry);
    each new identity goes to ``on_renewed`` (sync or async), which is where the runtime makes
    its TLS context present the new certificate. :meth:`run` returns only when the certificate
    has expired without a successful renewal (nothing more can be done: enroll again).
    """

    def __init__(
        self,
        identity: Identity,
        *,
        on_renewed: OnRenewed | None = None,
        fraction: float = DEFAULT_RENEWAL_FRACTION,
        retry_initial_s: float = 5.0,
        retry_max_s: float = 300.0,
        max_sleep_s: float = 60.0,
        renew_fn: Callable[[Identity], Identity] = renew,
    ) -> None:
        identity.renewal_due_at(fraction)  # validates the fraction
        self._identity = identity
        self._on_renewed = on_renewed
        self.fraction = fraction
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        # Sleep in slices: a laptop that slept through the due time notices it soon after.
        self.max_sleep_s = max_sleep_s
        self._renew_fn = renew_fn
        self._task: asyncio.Task[None] | None = None
        self.renewals = 0
        self.failures = 0

    @property
    def identity(self) -> Identity:
        """The newest identity (the one the last renewal produced)."""
        return self._identity

    def start(self) -> asyncio.Task[None]:
        """Run the loop as a task of the running event loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"renewal:{self._identity.participant_id}"
            )
        return self._task

    async def stop(self) -> None:
        """Cancel the loop's task and wait for it to end."""
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def run(self) -> None:
        """Sleep until renewal is due, renew, repeat."""
        attempt = 0
        log.info(
            "certificate of %s valid until %s; renewal due at %s",
            self._identity.participant_id,
            self._identity.not_after.isoformat(),
            self._identity.renewal_due_at(self.fraction).isoformat(),
        )
        while True:
            now = datetime.now(UTC)
            if self._identity.is_expired(now):
                log.error(
                    "certificate of %s expired at %s without renewal: ask the operator for a new "
                    "token and run `consortium-client enroll`",
                    self._identity.participant_id,
                    self._identity.not_after.isoformat(),
                )
                return
            due = self._identity.renewal_due_at(self.fraction)
            if now < due:
                await asyncio.sleep(min((due - now).total_seconds(), self.max_sleep_s))
                continue
            try:
                renewed = await asyncio.to_thread(self._renew_fn, self._identity)
            except Exception as exc:  # never let one failure end renewal
                attempt += 1
                self.failures += 1
                left = (self._identity.not_after - datetime.now(UTC)).total_seconds()
                delay = max(
                    0.0,
                    min(
                        retry_delay_s(
                            attempt, initial_s=self.retry_initial_s, max_s=self.retry_max_s
                        ),
                        left,
                    ),
                )
                log.warning(
                    "renewing the certificate of %s failed (attempt %d): %s; retrying in %.1f s",
                    self._identity.participant_id,
                    attempt,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            attempt = 0
            self._identity = renewed
            self.renewals += 1
            log.info(
                "renewed the certificate of %s; valid until %s",
                renewed.participant_id,
                renewed.not_after.isoformat(),
            )
            await self._notify(renewed)
            if renewed.needs_renewal(fraction=self.fraction):  # a too-short lifetime: no hammering
                await asyncio.sleep(self.retry_initial_s)

    async def _notify(self, identity: Identity) -> None:
        if self._on_renewed is None:
            return
        try:
            result = self._on_renewed(identity)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("the renewal callback failed for %s", identity.participant_id)
