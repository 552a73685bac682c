"""Rendering the Helm charts with Helm's own engine, once per set of values, for the deploy tests.

There is no ``helm`` binary here: ``helm-python-sdk`` binds Helm's Go SDK (``libhelm_c``). Its
``Chart.render`` takes no capabilities, but the C API's render options do (``api_versions``,
``kube_version``, as ``helm template --api-versions --kube-version``), so :func:`render_chart`
calls it directly: that is how the ServiceMonitor's ``.Capabilities.APIVersions.Has`` check is
tested both ways. Rendering goes through Helm's engine without ``helm install``'s dependency
check, so the charts render with their dependencies (NATS, CloudNativePG) declared in
``Chart.yaml`` but not downloaded: the CI profiles switch them off, as a platform with its own
NATS and PostgreSQL would, and the templates that belong to them are tested with them on.
Values are checked against ``values.schema.json`` by the same engine.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from helm_python import _native

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ROOT / "deploy" / "helm" / "consortium"
HOSPITAL = ROOT / "deploy" / "helm" / "consortium-hospital"

KUBE_VERSION = "1.33.0"
"""Kubernetes version the charts are rendered for and validated against."""
MIN_KUBE_VERSION = "1.29.0"
"""The oldest Kubernetes the charts declare (Chart.yaml kubeVersion); validated as well."""
MONITORING_API = "monitoring.coreos.com/v1"

RELEASE = "demo"
NAMESPACE = "consortium"

DEPENDENCIES_OFF: dict[str, Any] = {
    "nats": {"enabled": False},
    "postgresql": {"enabled": False},
    "externalNats": {"url": "tls://nats.platform.example.org:4222"},
    "database": {"url": "postgresql+asyncpg://consortium:secret@db.example.org:5432/consortium"},
}
"""The platform with its own NATS and PostgreSQL: how CI renders it (no chart downloads)."""

HOSPITAL_REQUIRED: dict[str, Any] = {"nats": {"url": "tls://nats.platform.example.org:4222"}}
"""The one setting the hospital chart has no default for."""

PLATFORM_PROFILES: dict[str, str | None] = {
    "default": None,
    "single-node": "profiles/single-node.yaml",
    "ha": "profiles/ha.yaml",
}
HOSPITAL_PROFILES: dict[str, str | None] = {"default": None, "gpu": "profiles/gpu.yaml"}

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``, maps merged key by key (as Helm merges values files)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def profile_values(chart_dir: Path, profile: str | None) -> dict[str, Any]:
    """The values of a profile file, parsed by Helm's own YAML reader."""
    if profile is None:
        return {}
    return helm.values_from_yaml((chart_dir / profile).read_text())


@dataclass
class Rendered:
    """The objects a chart rendered to (NOTES.txt left out), with lookups tests need."""

    objects: list[dict[str, Any]]
    sources: dict[str, str] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every object of ``kind``."""
        return [o for o in self.objects if o["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        """The one object of ``kind`` called ``name``."""
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
        return found[0]

    def component(self, kind: str, component: str) -> dict[str, Any]:
        """The one object of ``kind`` labelled with ``component``."""
        found = [
            o
            for o in self.of_kind(kind)
            if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        ]
        assert len(found) == 1, f"{kind} of {component}: found {len(found)}"
        return found[0]

    def workloads(self) -> list[dict[str, Any]]:
        """Objects that run pods."""
        return [o for o in self.objects if o["kind"] in WORKLOAD_KINDS]

    def pod_spec(self, workload: dict[str, Any]) -> dict[str, Any]:
        """The pod spec of a workload."""
        spec = workload["spec"]
        if workload["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        return spec["template"]["spec"]

    def containers(self) -> Iterator[tuple[dict[str, Any], dict[str, Any], bool]]:
        """``(workload, container, is_init)`` for every container of every workload."""
        for workload in self.workloads():
            spec = self.pod_spec(workload)
            for container in spec.get("initContainers", []):
                yield workload, container, True
            for container in spec["containers"]:
                yield workload, container, False


def render_chart(
    chart: helm.Chart,
    values: dict[str, Any],
    *,
    api_versions: tuple[str, ...] = (),
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    is_install: bool = False,
) -> Rendered:
    """Render ``chart`` with ``values`` through Helm's engine, as ``helm template`` would
    (``is_install``: as at the first install, else as an upgrade)."""
    options = {
        "name": release,
        "namespace": namespace,
        "kube_version": f"v{KUBE_VERSION}",
        "api_versions": list(api_versions),
        "is_install": is_install,
        "is_upgrade": not is_install,
    }
    manifests: dict[str, str] = json.loads(
        _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options))
    )
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Rendered(objects, manifests)


class Charts:
    """Both charts loaded once; every distinct rendering computed once per test session."""

    root = ROOT
    platform_dir = PLATFORM
    hospital_dir = HOSPITAL
    kube_version = KUBE_VERSION
    min_kube_version = MIN_KUBE_VERSION
    monitoring_api = MONITORING_API
    release = RELEASE
    namespace = NAMESPACE
    dependencies_off = DEPENDENCIES_OFF
    hospital_required = HOSPITAL_REQUIRED

    def __init__(self) -> None:
        self.platform = helm.Chart.load(PLATFORM)
        self.hospital = helm.Chart.load(HOSPITAL)
        self._cache: dict[str, Rendered] = {}

    def render(
        self,
        chart: str,
        values: dict[str, Any] | None = None,
        *,
        api_versions: tuple[str, ...] = (),
        release: str = RELEASE,
        is_install: bool = False,
    ) -> Rendered:
        """Render ``chart`` ("platform" or "hospital") with ``values``, from the cache."""
        key = json.dumps([chart, values or {}, api_versions, release, is_install], sort_keys=True)
        if key not in self._cache:
            loaded = self.platform if chart == "platform" else self.hospital
            self._cache[key] = render_chart(
                loaded,
                values or {},
                api_versions=api_versions,
                release=release,
                is_install=is_install,
            )
        return self._cache[key]

    def platform_profile(
        self, profile: str, *, dependencies: bool = False, **overrides: Any
    ) -> Rendered:
        """The platform chart in a profile, its dependencies off unless asked for."""
        values = profile_values(PLATFORM, PLATFORM_PROFILES[profile])
        if not dependencies:
            values = deep_merge(values, DEPENDENCIES_OFF)
        values = deep_merge(values, overrides.pop("values", {}))
        return self.render("platform", values, **overrides)

    def hospital_profile(self, profile: str, **overrides: Any) -> Rendered:
        """The hospital chart in a profile, with its one required setting."""
        values = deep_merge(profile_values(HOSPITAL, HOSPITAL_PROFILES[profile]), HOSPITAL_REQUIRED)
        values = deep_merge(values, overrides.pop("values", {}))
        return self.render("hospital", values, **overrides)


@pytest.fixture(scope="session")
def charts() -> Iterator[Charts]:
    """The charts and their renderings, shared by every deploy test."""
    loaded = Charts()
    yield loaded
    loaded.platform.close()
    loaded.hospital.close()


RENDERINGS = [("platform", p) for p in PLATFORM_PROFILES] + [
    ("hospital", p) for p in HOSPITAL_PROFILES
]
"""What CI renders: both charts in every profile (the platform's dependencies off)."""


@pytest.fixture(params=RENDERINGS, ids=[f"{chart}-{profile}" for chart, profile in RENDERINGS])
def rendering(request: pytest.FixtureRequest, charts: Charts) -> Rendered:
    """Each CI rendering in turn."""
    chart, profile = request.param
    if chart == "platform":
        return charts.platform_profile(profile)
    return charts.hospital_profile(profile)
