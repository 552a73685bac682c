"""The hospital chart: the client SDK's runtime with its certificate from a Secret, seeded into
a persistent home that also keeps its privacy ledger, and probes that check real state. The
seeding script and the probe run here against a real enrolled identity."""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from consortium_client.identity import build_csr, generate_key, load_identity, write_identity
from consortium_registry.ca import CertificateAuthority
from cryptography.hazmat.primitives.serialization import Encoding

HOME = "/var/lib/consortium/home"


def _pod(rendered) -> dict:
    (deployment,) = rendered.of_kind("Deployment")
    return deployment["spec"]["template"]["spec"]


def test_the_certificate_comes_from_a_secret_into_a_persistent_home(charts) -> None:
    rendered = charts.hospital_profile(
        "default", values={"identity": {"existingSecret": "hospital-7-identity"}}
    )
    pod = _pod(rendered)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["identity"]["secret"] == {
        "secretName": "hospital-7-identity",
        "defaultMode": 0o440,
    }
    (claim,) = rendered.of_kind("PersistentVolumeClaim")
    assert volumes["home"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    (seed,) = pod["initContainers"]
    script = (charts.hospital_dir / "files" / "seed-identity.sh").read_text()
    assert seed["command"] == ["sh", "-c", script, "seed-identity", HOME]
    mounts = {m["mountPath"]: m for m in seed["volumeMounts"]}
    assert mounts["/etc/consortium/identity"] == {
        "name": "identity",
        "mountPath": "/etc/consortium/identity",
        "readOnly": True,
    }
    (client,) = pod["containers"]
    assert "identity" not in {
        m["name"] for m in client["volumeMounts"]
    }  # the key is read from the home
    assert client["args"][:3] == ["run", "--home", HOME]
    default = charts.hospital_profile("default")
    assert {
        "name": "identity",
        "secret": {"secretName": "demo-consortium-hospital-identity", "defaultMode": 0o440},
    } in _pod(default)["volumes"]


def test_what_it_runs_and_its_privacy_limit_come_from_values(charts) -> None:
    rendered = charts.hospital_profile(
        "default",
        values={
            "tasks": ["digits-cnn", "fraud-vertical"],
            "apps": ["my_project.client_app:app"],
            "nodeConfig": "data-path='/data/scans'",
            "privacy": {"epsilonLimit": 8},
            "data": {"existingClaim": "scans"},
        },
    )
    (client,) = _pod(rendered)["containers"]
    assert client["args"] == [
        "run",
        "--home",
        HOME,
        "--task",
        "digits-cnn",
        "--task",
        "fraud-vertical",
        "--app",
        "my_project.client_app:app",
        "--node-config",
        "data-path='/data/scans'",
        "--json",
    ]
    env = {e["name"]: e.get("value") for e in client["env"]}
    assert env["CONSORTIUM_CLIENT_NATS_URL"] == "tls://nats.platform.example.org:4222"
    assert env["CONSORTIUM_CLIENT_PRIVACY_EPSILON_LIMIT"] == "8"
    data = next(m for m in client["volumeMounts"] if m["name"] == "data")
    assert data == {"name": "data", "mountPath": "/data", "readOnly": True}
    unlimited = _pod(charts.hospital_profile("default"))["containers"][0]
    assert "CONSORTIUM_CLIENT_PRIVACY_EPSILON_LIMIT" not in {e["name"] for e in unlimited["env"]}


def test_the_probes_run_the_probe_script(charts) -> None:
    (client,) = _pod(charts.hospital_profile("default"))["containers"]
    script = (charts.hospital_dir / "files" / "probe.py").read_text()
    url = "tls://nats.platform.example.org:4222"
    assert client["livenessProbe"]["exec"]["command"] == ["python", "-c", script, "live", HOME, url]
    assert client["readinessProbe"]["exec"]["command"] == [
        "python",
        "-c",
        script,
        "ready",
        HOME,
        url,
    ]


def test_a_gpu_profile_asks_for_a_gpu(charts) -> None:
    (client,) = _pod(charts.hospital_profile("gpu"))["containers"]
    assert client["resources"]["limits"]["nvidia.com/gpu"] == 1


# --- the scripts, run for real ---------------------------------------------------------------


def _enrolled(
    home: Path,
    ca: CertificateAuthority,
    *,
    participant: str = "hospital-7",
    now: datetime | None = None,
) -> None:
    key = generate_key(home)
    cert = ca.sign_participant_csr(build_csr(key, participant), participant, 3600, now=now)
    write_identity(
        home,
        participant_id=participant,
        gateway_url="https://gw.example.org",
        certificate_pem=cert.public_bytes(Encoding.PEM).decode(),
        ca_pem=ca.cert_pem.decode(),
    )


def _seed(charts, secret: Path, home: Path) -> subprocess.CompletedProcess[str]:
    script = charts.hospital_dir / "files" / "seed-identity.sh"
    return subprocess.run(
        ["sh", str(script), str(home)],
        env={**os.environ, "IDENTITY_DIR": str(secret)},
        capture_output=True,
        text=True,
        check=False,
    )


def _probe(charts):
    path = charts.hospital_dir / "files" / "probe.py"
    spec = importlib.util.spec_from_file_location("hospital_probe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seed_script_makes_a_home_the_sdk_accepts_and_keeps_it(charts, tmp_path) -> None:
    ca = CertificateAuthority.create()
    secret, home = tmp_path / "secret", tmp_path / "volume" / "home"
    _enrolled(secret, ca)
    assert _seed(charts, secret, home).returncode == 0
    identity = load_identity(home)  # key 0600, certificate for the key, signed by the CA
    assert identity.participant_id == "hospital-7"
    assert stat.S_IMODE((home / "key.pem").stat().st_mode) == 0o600
    # later starts keep what the runtime wrote: a renewed certificate, the privacy ledger
    (home / "privacy").mkdir()
    (home / "privacy" / "ledger.json").write_text("{}")
    renewed = (home / "cert.pem").read_text() + "\n"
    (home / "cert.pem").write_text(renewed)
    (home / "key.pem").chmod(0o640)  # a volume's group ownership re-applied
    assert _seed(charts, secret, home).returncode == 0
    assert (home / "cert.pem").read_text() == renewed
    assert stat.S_IMODE((home / "key.pem").stat().st_mode) == 0o600
    # a new enrollment (another key) in the Secret replaces the identity, not the ledger
    other = tmp_path / "other"
    _enrolled(other, ca)
    assert _seed(charts, other, home).returncode == 0
    assert (home / "key.pem").read_bytes() == (other / "key.pem").read_bytes()
    assert (home / "privacy" / "ledger.json").read_text() == "{}"


def test_the_seed_script_refuses_an_incomplete_secret(charts, tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "cert.pem").write_text("only a certificate")
    result = _seed(charts, secret, tmp_path / "home")
    assert result.returncode == 1 and "lacks key.pem" in result.stderr


def test_the_liveness_probe_fails_on_an_expired_certificate(charts, tmp_path, monkeypatch) -> None:
    probe = _probe(charts)
    ca = CertificateAuthority.create(now=datetime.now(UTC) - timedelta(days=2))
    good, expired = tmp_path / "good", tmp_path / "expired"
    _enrolled(good, ca)
    _enrolled(expired, ca, now=datetime.now(UTC) - timedelta(days=1))
    monkeypatch.setattr("sys.argv", ["probe", "live", str(good), "tls://127.0.0.1:4222"])
    assert probe.main() == 0
    monkeypatch.setattr("sys.argv", ["probe", "live", str(expired), "tls://127.0.0.1:4222"])
    assert probe.main() == 1


def test_the_readiness_probe_sees_the_connection_to_nats(charts, tmp_path, monkeypatch) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp on this system (the probe runs in Linux pods)")
    probe = _probe(charts)
    home = tmp_path / "home"
    _enrolled(home, CertificateAuthority.create())
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        monkeypatch.setattr("sys.argv", ["probe", "ready", str(home), f"tls://127.0.0.1:{port}"])
        assert probe.main() == 1  # listening is not connected
        with socket.create_connection(("127.0.0.1", port)):
            conn, _ = server.accept()
            with conn:
                assert probe.main() == 0
