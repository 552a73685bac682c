"""NATS and PostgreSQL come from their official charts, each switchable off for a server of
your own; CI renders without downloading them (they are fetched by `helm dependency build`)."""

from __future__ import annotations

import re

import helm_python as helm
import pytest
import yaml
from helm_python import HelmError

EXPECTED = {
    "nats": ("https://nats-io.github.io/k8s/helm/charts/", "nats.enabled", None),
    "cluster": ("https://cloudnative-pg.github.io/charts", "postgresql.enabled", "postgresql"),
}


def test_dependencies_are_the_official_charts_pinned_and_switchable(charts) -> None:
    metadata = yaml.safe_load((charts.platform_dir / "Chart.yaml").read_text())
    values = yaml.safe_load((charts.platform_dir / "values.yaml").read_text())
    declared = {d["name"]: d for d in metadata["dependencies"]}
    assert set(declared) == set(EXPECTED)
    for name, (repository, condition, alias) in EXPECTED.items():
        dependency = declared[name]
        assert dependency["repository"] == repository
        assert dependency["condition"] == condition
        assert dependency.get("alias") == alias
        assert re.fullmatch(r"\d+\.\d+\.\d+", str(dependency["version"])), "pin an exact version"
        section, key = condition.split(".")
        assert values[section][key] is True  # on by default, off with one value


def test_helm_sees_them_declared_and_not_vendored(charts) -> None:
    listed = {d["name"]: d["status"] for d in helm.dependency_list(charts.platform_dir)}
    assert set(listed) == {"nats", "cluster"}
    # a checkout holds no chart archives; `helm dependency build` fetches them
    assert set(listed.values()) <= {"missing", "ok"}


def test_helms_engine_renders_the_chart_without_the_archives(charts) -> None:
    """`helm install` refuses missing dependencies; the engine alone renders this chart's own
    templates, including those that configure the dependencies (NATS authorization, policies)."""
    rendered = charts.platform_profile("default", dependencies=True)
    kinds = {o["kind"] for o in rendered.objects}
    assert "StatefulSet" not in kinds and "Cluster" not in kinds  # nothing of the subcharts
    assert rendered.named("Service", "demo-nats-public")


def test_switching_nats_off_needs_an_endpoint(charts) -> None:
    with pytest.raises(HelmError, match=r"externalNats\.url is required when nats\.enabled=false"):
        charts.platform_profile("default", values={"externalNats": {"url": ""}})
