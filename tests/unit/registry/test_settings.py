"""Registry settings: defaults that work on one machine, weak secrets refused outside dev."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from consortium_registry.settings import RegistrySettings
from pydantic import ValidationError


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CONSORTIUM_REGISTRY_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = RegistrySettings()
    assert settings.port == 8701 and settings.tls
    assert settings.database_url.endswith("/consortium")
    assert settings.pki_dir == Path("var/pki")
    assert settings.cert_lifetime_s == 86400 and settings.token_ttl_s == 86400
    assert settings.admin_username == "admin"
    assert settings.admin_password_file == Path("var/run/operator.password")
    assert settings.session_secret is None  # generated under pki_dir at start-up


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSORTIUM_REGISTRY_PORT", "9999")
    monkeypatch.setenv("CONSORTIUM_REGISTRY_TLS", "false")
    monkeypatch.setenv("CONSORTIUM_REGISTRY_SERVER_HOSTS", '["registry.example", "10.0.0.5"]')
    settings = RegistrySettings()
    assert (settings.port, settings.tls) == (9999, False)
    assert settings.server_hosts == ["registry.example", "10.0.0.5"]


@pytest.mark.parametrize(
    "field,value", [("session_secret", "changethis"), ("session_secret", "short-but-unique")]
)
def test_weak_secrets_are_refused_outside_dev(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match="refused outside dev"):
        RegistrySettings(environment="production", **{field: value})
    assert RegistrySettings(environment="dev", **{field: value})  # only warned in dev


def test_default_admin_password_is_refused_outside_dev() -> None:
    with pytest.raises(ValidationError):
        RegistrySettings(environment="production", admin_password="admin")
    strong = "x" * 40
    assert RegistrySettings(environment="production", session_secret=strong, admin_password=strong)
