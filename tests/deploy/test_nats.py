"""NATS from its official chart, configured to the platform's rules: JetStream, TLS that
requires a certificate from the platform CA and maps it to a user, and users that are exactly
the services and the participants listed, each participant confined to its own subjects (the
rules the registry writes on one machine, consortium_registry.natsauth)."""

from __future__ import annotations

import json
import posixpath
import re

import helm_python as helm
import pytest
import yaml
from consortium_core.services import SERVICES
from consortium_registry.natsauth.config import participant_permissions, user_for
from helm_python import HelmError

PARTICIPANTS = ["hospital-1", "hospital-2", "bank_a"]


def _users(rendered) -> list[dict]:
    config = rendered.named("ConfigMap", "demo-nats-authorization")["data"]["authorization.conf"]
    body = re.search(r"authorization \{\s*users: (\[.*\])\s*\}", config, re.S)
    assert body, config
    return json.loads(body[1])


def test_users_are_the_services_and_the_listed_participants(charts) -> None:
    rendered = charts.platform_profile(
        "default", dependencies=True, values={"natsAuthorization": {"participants": PARTICIPANTS}}
    )
    users = {u["user"]: u.get("permissions") for u in _users(rendered)}
    expected = {user_for(f"service:{s}"): None for s in SERVICES}
    expected |= {user_for(p): participant_permissions(p) for p in PARTICIPANTS}
    assert users == expected


def test_no_participant_can_connect_until_listed(charts) -> None:
    rendered = charts.platform_profile("default", dependencies=True)
    assert {u["user"] for u in _users(rendered)} == {user_for(f"service:{s}") for s in SERVICES}


def test_without_the_bundled_nats_there_is_nothing_to_configure(charts) -> None:
    rendered = charts.platform_profile("default")
    assert not [
        c for c in rendered.of_kind("ConfigMap") if "nats-authorization" in c["metadata"]["name"]
    ]
    for component in ("coordinator", "metrics", "contribution"):
        config = rendered.component("ConfigMap", component)["data"]
        assert (
            config[f"CONSORTIUM_{component.upper()}_NATS_URL"]
            == "tls://nats.platform.example.org:4222"
        )


def test_services_reach_the_bundled_nats_by_its_service_name(charts) -> None:
    rendered = charts.platform_profile("default", dependencies=True)
    config = rendered.component("ConfigMap", "coordinator")["data"]
    assert config["CONSORTIUM_COORDINATOR_NATS_URL"] == "tls://demo-nats:4222"
    assert config["CONSORTIUM_COORDINATOR_NATS_CERT_FILE"] == "/etc/consortium/nats/tls.crt"
    registry = rendered.component("ConfigMap", "registry")["data"]
    assert registry["CONSORTIUM_REGISTRY_NATS__URL"] == "tls://demo-nats:4222"
    assert registry["CONSORTIUM_REGISTRY_AUTHORIZATION_SINK"] == "log"


def _tpl(tmp_path, template: str) -> str:
    """Evaluate a nats chart `$tplYaml` string the way that chart does, for release `demo`."""
    chart = tmp_path / "tpl"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tpl\nversion: 0.1.0\n")
    (chart / "templates" / "value.yaml").write_text("value: {{ tpl .Values.template . }}\n")
    with helm.Chart.load(chart) as loaded:
        out = loaded.render({"template": template}, name="demo", namespace="consortium")
    return yaml.safe_load(out["tpl/templates/value.yaml"])["value"]


def test_the_nats_chart_values_fit_the_platform(charts, tmp_path) -> None:
    values = yaml.safe_load((charts.platform_dir / "values.yaml").read_text())["nats"]
    config = values["config"]
    assert config["jetstream"]["enabled"] is True
    tls = config["nats"]["tls"]
    assert tls["enabled"] is True and tls["merge"]["verify_and_map"] is True
    assert (
        tls["merge"]["ca_file"] == "/etc/nats-certs/nats/ca.crt"
    )  # the chart mounts the secret there
    # the server certificate is the Secret this chart makes
    rendered = charts.platform_profile("default", dependencies=True)
    secret = _tpl(tmp_path, tls["secretName"]["$tplYaml"])
    assert rendered.named("Secret", secret)["type"] == "kubernetes.io/tls"
    # the authorization file is included from the volume that mounts this chart's ConfigMap
    include = config["merge"]["00$include"]
    (mount,) = [p["value"] for p in values["container"]["patch"] if p["path"] == "/volumeMounts/-"]
    assert posixpath.normpath(posixpath.join("/etc/nats-config", include)) == (
        f"{mount['mountPath']}/authorization.conf"
    )
    (volume,) = [
        p["value"] for p in values["podTemplate"]["patch"] if p["path"] == "/spec/volumes/-"
    ]
    assert volume["name"] == mount["name"]
    configmap = _tpl(tmp_path, volume["configMap"]["name"]["$tplYaml"])
    assert "authorization.conf" in rendered.named("ConfigMap", configmap)["data"]
    assert values["natsBox"]["enabled"] is False


REPLICA_SETTINGS = {
    "coordinator": "CONSORTIUM_COORDINATOR_JETSTREAM_REPLICAS",
    "metrics": "CONSORTIUM_METRICS_JETSTREAM_REPLICAS",
    "contribution": "CONSORTIUM_CONTRIBUTION_JETSTREAM_REPLICAS",
    "registry": "CONSORTIUM_REGISTRY_NATS__JETSTREAM_REPLICAS",
}


@pytest.mark.parametrize(("profile", "replicas"), [("default", "1"), ("ha", "3")])
def test_every_service_that_creates_streams_gets_the_replica_count(
    charts, profile: str, replicas: str
) -> None:
    rendered = charts.platform_profile(profile, dependencies=True)
    for component, setting in REPLICA_SETTINGS.items():
        assert rendered.component("ConfigMap", component)["data"][setting] == replicas


def test_more_stream_replicas_than_nats_servers_are_refused(charts) -> None:
    with pytest.raises(HelmError, match=r"jetstream\.replicas is 3 but the chart's NATS runs 1"):
        charts.platform_profile("default", dependencies=True, values={"jetstream": {"replicas": 3}})
    # NATS of your own: the chart cannot count its servers, the services check at start-up
    external = charts.platform_profile("default", values={"jetstream": {"replicas": 3}})
    assert external.component("ConfigMap", "metrics")["data"][REPLICA_SETTINGS["metrics"]] == "3"
