"""The certificates the chart makes: a CA the registry can sign participants' certificates
with (EC P-256), and leaf certificates for NATS, the gateway and each service, signed by it and
naming the hosts clients use."""

from __future__ import annotations

import base64

import pytest
from consortium_core.services import SERVICES
from consortium_registry.ca import CertificateAuthority
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from helm_python import HelmError

HOSTS = {
    "gateway": {"hosts": ["fl.example.org", "203.0.113.10"]},
    "natsPublic": {"hosts": ["nats.fl.example.org"]},
}


def _pem(secret: dict, key: str) -> bytes:
    return base64.b64decode(secret["data"][key])


def _sans(cert: x509.Certificate) -> set[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in names.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in names.get_values_for_type(x509.IPAddress)
    }


def test_the_ca_is_one_the_registry_can_sign_with(charts) -> None:
    rendered = charts.platform_profile("default", dependencies=True, values=HOSTS)
    secret = rendered.named("Secret", "demo-consortium-ca")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    ca = CertificateAuthority.from_pem(_pem(secret, "tls.key"), _pem(secret, "tls.crt"))
    assert isinstance(ca.certificate.public_key().curve, ec.SECP256R1)
    assert ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_every_leaf_is_signed_by_the_ca_and_names_its_hosts(charts) -> None:
    rendered = charts.platform_profile("default", dependencies=True, values=HOSTS)
    ca_secret = rendered.named("Secret", "demo-consortium-ca")
    ca = CertificateAuthority.from_pem(_pem(ca_secret, "tls.key"), _pem(ca_secret, "tls.crt"))
    leaves = {
        s["metadata"]["annotations"]["consortium.io/certificate"]: s
        for s in rendered.of_kind("Secret")
        if "consortium.io/certificate" in s["metadata"].get("annotations", {})
    }
    assert set(leaves) == {"nats-server", "gateway-tls"} | {f"{s}-nats-client" for s in SERVICES}
    for name, secret in leaves.items():
        cert = x509.load_pem_x509_certificate(_pem(secret, "tls.crt"))
        assert ca.issued(cert), name
        assert _pem(secret, "ca.crt") == _pem(ca_secret, "tls.crt"), name
        assert isinstance(cert.public_key().curve, ec.SECP256R1), name
    nats = x509.load_pem_x509_certificate(_pem(leaves["nats-server"], "tls.crt"))
    assert {
        "demo-nats",
        "demo-nats.consortium.svc",
        "nats.fl.example.org",
        "*.demo-nats-headless.consortium.svc.cluster.local",
    } <= _sans(nats)
    gateway = x509.load_pem_x509_certificate(_pem(leaves["gateway-tls"], "tls.crt"))
    assert {"demo-consortium-gateway", "fl.example.org", "203.0.113.10"} <= _sans(gateway)
    for service in SERVICES:
        cert = x509.load_pem_x509_certificate(_pem(leaves[f"{service}-nats-client"], "tls.crt"))
        # NATS maps this subject to the user of that service (verify_and_map)
        assert cert.subject.rfc4514_string() == f"CN=service:{service}"
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in usage


def test_pods_mount_the_certificates_the_chart_made(charts) -> None:
    rendered = charts.platform_profile("default")
    secrets = {s["metadata"]["name"] for s in rendered.of_kind("Secret")}
    for deployment in rendered.of_kind("Deployment"):
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, volume
    registry = rendered.component("Deployment", "registry")["spec"]["template"]["spec"]
    # only the registry holds the CA's key, copied into its own volume by an init container
    copy = next(c for c in registry["initContainers"] if c["name"] == "ca")
    assert "/var/lib/consortium/pki/ca.key" in copy["command"][-1]
    config = rendered.component("ConfigMap", "registry")["data"]
    assert config["CONSORTIUM_REGISTRY_PKI_DIR"] == "/var/lib/consortium/pki"
    for component in ("coordinator", "metrics", "contribution", "gateway"):
        pod = rendered.component("Deployment", component)["spec"]["template"]["spec"]
        names = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert "demo-consortium-ca" not in names, component


def test_a_ca_of_your_own_needs_the_cluster_to_sign_with_it(charts) -> None:
    """With pki.ca.existingSecret the chart reads the CA with `lookup`, which an offline render
    cannot: it says so rather than inventing another CA."""
    with pytest.raises(
        HelmError, match=r"pki\.ca\.existingSecret: Secret consortium/our-ca not found"
    ):
        charts.platform_profile("default", values={"pki": {"ca": {"existingSecret": "our-ca"}}})


def test_with_certificates_of_your_own_the_chart_makes_none(charts) -> None:
    rendered = charts.platform_profile(
        "default", values={"pki": {"mode": "existing", "ca": {"existingSecret": "our-ca"}}}
    )
    assert not [s for s in rendered.of_kind("Secret") if s["type"] == "kubernetes.io/tls"]
    registry = rendered.component("Deployment", "registry")["spec"]["template"]["spec"]
    assert {"name": "ca", "secret": {"secretName": "our-ca", "defaultMode": 0o440}} in registry[
        "volumes"
    ]
