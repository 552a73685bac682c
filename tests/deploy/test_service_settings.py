"""Every setting the charts hand a service is one its settings class reads, and parses: the
environment variables of each container (ConfigMap and env) are fed to the real pydantic
settings classes. pydantic-settings ignores a variable that names no setting, so a typo in a
template would otherwise only show as a default silently kept in production."""

from __future__ import annotations

import pytest
from consortium_client.settings import ClientSettings
from consortium_contribution.settings import ContributionServiceSettings
from consortium_coordinator.settings import CoordinatorSettings
from consortium_gateway.settings import GatewaySettings
from consortium_metrics.settings import MetricsSettings
from consortium_registry.settings import RegistrySettings
from pydantic import BaseModel

SETTINGS = {
    "coordinator": CoordinatorSettings,
    "registry": RegistrySettings,
    "metrics": MetricsSettings,
    "contribution": ContributionServiceSettings,
    "gateway": GatewaySettings,
}
FROM_SECRETS = {
    "DATABASE_URL": "postgresql+asyncpg://consortium@db:5432/consortium",
    "ADMIN_PASSWORD": "Zx8kq2LmP0aRt5vWn7yB3cDe",
    "SESSION_SECRET": "s" * 64,
}


def _known(model: type[BaseModel], name: str) -> bool:
    """Whether ``name`` (lower case, nested with ``__``) is a field of ``model``."""
    head, _, rest = name.partition("__")
    field = model.model_fields.get(head)
    if field is None:
        return False
    if not rest:
        return True
    nested = field.annotation
    return isinstance(nested, type) and issubclass(nested, BaseModel) and _known(nested, rest)


def _environment(rendered, component: str) -> dict[str, str]:
    prefix = f"CONSORTIUM_{component.upper()}_"
    env = dict(rendered.component("ConfigMap", component)["data"])
    container = rendered.component("Deployment", component)["spec"]["template"]["spec"][
        "containers"
    ][0]
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif entry["name"].startswith(prefix):
            env[entry["name"]] = FROM_SECRETS[entry["name"].removeprefix(prefix)]
    return {k: v for k, v in env.items() if k.startswith(prefix)}


@pytest.mark.parametrize("dependencies", [False, True])
@pytest.mark.parametrize("component", list(SETTINGS))
def test_every_variable_is_a_setting_and_parses(charts, monkeypatch, component, dependencies):
    rendered = charts.platform_profile("ha", dependencies=dependencies)
    env = _environment(rendered, component)
    prefix = f"CONSORTIUM_{component.upper()}_"
    unknown = [k for k in env if not _known(SETTINGS[component], k.removeprefix(prefix).lower())]
    assert not unknown, f"not settings of {SETTINGS[component].__name__}"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = SETTINGS[component]()
    assert settings.host == "0.0.0.0"
    assert settings.database_url == FROM_SECRETS["DATABASE_URL"]


def test_the_registry_gets_production_settings(charts, monkeypatch) -> None:
    rendered = charts.platform_profile(
        "default",
        dependencies=True,
        values={"registry": {"expose": {"enabled": True, "hosts": ["registry.fl.example.org"]}}},
    )
    for name, value in _environment(rendered, "registry").items():
        monkeypatch.setenv(name, value)
    settings = RegistrySettings()  # production refuses weak secrets: these are not
    assert settings.environment == "production" and settings.tls is True
    assert settings.run_migrations is False
    assert "demo-consortium-registry.consortium.svc" in settings.server_hosts
    assert "registry.fl.example.org" in settings.server_hosts
    assert settings.nats.url == "tls://demo-nats:4222"
    assert str(settings.nats.cert_file) == "/etc/consortium/nats/tls.crt"
    assert settings.authorization_sink == "log"
    gateway = _environment(rendered, "gateway")
    assert gateway["CONSORTIUM_GATEWAY_REGISTRY_URL"] == "https://demo-consortium-registry:8701"
    assert settings.port == 8701


def test_values_config_reaches_the_service(charts, monkeypatch) -> None:
    rendered = charts.platform_profile(
        "default",
        values={"coordinator": {"config": {"round_timeout_s": 120, "participant_wait_s": 30}}},
    )
    for name, value in _environment(rendered, "coordinator").items():
        monkeypatch.setenv(name, value)
    settings = CoordinatorSettings()
    assert (settings.round_timeout_s, settings.participant_wait_s) == (120.0, 30.0)


def test_the_hospital_runtime_reads_its_settings(charts, monkeypatch) -> None:
    rendered = charts.hospital_profile("gpu", values={"privacy": {"epsilonLimit": 8}})
    (deployment,) = rendered.of_kind("Deployment")
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    client = {k: v for k, v in env.items() if k.startswith("CONSORTIUM_CLIENT_")}
    assert all(_known(ClientSettings, k.removeprefix("CONSORTIUM_CLIENT_").lower()) for k in client)
    for name, value in client.items():
        monkeypatch.setenv(name, value)
    settings = ClientSettings()
    assert settings.nats_url == "tls://nats.platform.example.org:4222"
    assert settings.privacy_epsilon_limit == 8 and settings.threads == 4
    assert settings.tls_hostname_check is True
