"""``consortium-client enroll`` and how ``run`` finds (or demands) an enrolled identity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from consortium_client.cli import main
from consortium_client.identity import fingerprint_sha256


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings from the test, not from the machine: identities live under tmp_path."""
    import os

    for name in list(os.environ):
        if name.startswith("CONSORTIUM_CLIENT_"):
            monkeypatch.delenv(name)
    root = tmp_path / "identities"
    monkeypatch.setenv("CONSORTIUM_CLIENT_IDENTITIES_DIR", str(root))
    return root


def test_enroll_prints_who_where_and_until_when(registry, ca_file, tmp_path, capsys) -> None:
    registry.add_token("t-1", "hospital-3")
    home = tmp_path / "home"
    args = ["--gateway", registry.url, "--home", str(home), "--ca-cert", str(ca_file)]
    code = main(["enroll", "--token", "t-1", *args])
    out = capsys.readouterr().out
    assert code == 0
    assert "enrolled as hospital-3" in out
    assert str(home / "key.pem") in out
    assert "valid until" in out


def test_enroll_json_by_fingerprint_into_the_default_home(
    registry, ca, tmp_path, capsys, _isolated_settings: Path
) -> None:
    registry.add_token("t-1", "hospital-4")
    trust = ["--ca-fingerprint", fingerprint_sha256(ca.cert), "--json"]
    code = main(
        [
            "enroll",
            "--token",
            "t-1",
            "--gateway",
            registry.url,
            "--participant",
            "hospital-4",
            *trust,
        ]
    )
    assert code == 0
    described = json.loads(capsys.readouterr().out)
    assert described["participant_id"] == "hospital-4"
    assert described["home"] == str(_isolated_settings / "hospital-4")
    assert described["key"] == str(_isolated_settings / "hospital-4" / "key.pem")
    assert datetime.fromisoformat(described["not_after"]) > datetime.now(UTC)


def test_enroll_takes_token_and_trust_from_the_environment(
    registry, ca_file, tmp_path, monkeypatch, capsys
) -> None:
    registry.add_token("t-env", "hospital-5")
    monkeypatch.setenv("CONSORTIUM_CLIENT_ENROLL_TOKEN", "t-env")
    monkeypatch.setenv("CONSORTIUM_CLIENT_GATEWAY_URL", registry.url)
    monkeypatch.setenv("CONSORTIUM_CLIENT_CA_CERT", str(ca_file))
    assert main(["enroll", "--home", str(tmp_path / "home"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["participant_id"] == "hospital-5"


def test_enroll_refuses_without_a_trust_anchor(registry, tmp_path) -> None:
    with pytest.raises(SystemExit, match="--ca-cert PATH"):
        main(["enroll", "--token", "t", "--gateway", registry.url, "--home", str(tmp_path)])
    assert registry.state.requests == []


def test_enroll_shows_the_registrys_detail(registry, ca_file, tmp_path, capsys) -> None:
    args = ["--gateway", registry.url, "--home", str(tmp_path / "h"), "--ca-cert", str(ca_file)]
    code = main(["enroll", "--token", "nope", *args])
    assert code == 2
    assert "unknown enrollment token" in capsys.readouterr().err


def test_run_on_tls_without_identity_says_enroll_first(capsys) -> None:
    code = main(["run", "--participant", "p1", "--nats", "tls://127.0.0.1:4222", "--task", "x"])
    assert code == 2
    assert "consortium-client enroll" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="enroll"):
        main(["run", "--nats", "tls://127.0.0.1:4222", "--task", "x"])


def test_run_refuses_an_expired_identity(ca, tmp_path, capsys) -> None:
    now = datetime.now(UTC)
    home = ca.enrolled_home(
        tmp_path / "home", "p1", not_before=now - timedelta(days=2), not_after=now - timedelta(1)
    )
    code = main(["run", "--home", str(home), "--nats", "tls://127.0.0.1:4222", "--task", "x"])
    assert code == 2
    assert "expired" in capsys.readouterr().err


def test_run_refuses_a_participant_other_than_the_identity(ca, tmp_path) -> None:
    home = ca.enrolled_home(tmp_path / "home", "p1")
    with pytest.raises(SystemExit, match="is p1, not p2"):
        main(["run", "--home", str(home), "--participant", "p2", "--task", "x"])
