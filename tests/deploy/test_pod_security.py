"""Every container of both charts, in every profile: an unprivileged user, no privilege
escalation, a read-only root file system, no capabilities, a versioned image, requests and
limits, and probes on every long-running container."""

from __future__ import annotations

import ast
import re
from pathlib import Path

IMAGE = re.compile(
    r"^(?P<name>[a-z0-9./_-]+):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*)(@sha256:[a-f0-9]{64})?$"
)


def _effective(pod: dict, container: dict, key: str):
    """A security setting as Kubernetes applies it: the container's, else the pod's."""
    own = container.get("securityContext", {})
    return own[key] if key in own else pod.get("securityContext", {}).get(key)


def test_every_container_runs_unprivileged(rendering) -> None:
    for workload, container, _ in rendering.containers():
        pod = rendering.pod_spec(workload)
        where = f"{workload['metadata']['name']}/{container['name']}"
        assert _effective(pod, container, "runAsNonRoot") is True, where
        assert (_effective(pod, container, "runAsUser") or 0) > 0, where
        context = container.get("securityContext", {})
        assert context.get("allowPrivilegeEscalation") is False, where
        assert context.get("privileged", False) is False, where
        assert context.get("readOnlyRootFilesystem") is True, where
        assert context.get("capabilities", {}).get("drop") == ["ALL"], where
        assert not context.get("capabilities", {}).get("add"), where
        assert _effective(pod, container, "seccompProfile") == {"type": "RuntimeDefault"}, where
        assert not pod.get("hostNetwork") and not pod.get("hostPID"), where


def test_pods_get_no_service_account_token(rendering) -> None:
    for workload in rendering.workloads():
        assert rendering.pod_spec(workload)["automountServiceAccountToken"] is False


def test_images_are_versioned_never_latest(rendering) -> None:
    for _, container, _ in rendering.containers():
        match = IMAGE.match(container["image"])
        assert match, f"{container['image']} has no version tag"
        assert match["tag"] != "latest", container["image"]
        assert container["imagePullPolicy"] in ("IfNotPresent", "Always"), container["image"]


def test_every_container_has_requests_and_limits(rendering) -> None:
    for workload, container, _ in rendering.containers():
        resources = container.get("resources", {})
        where = f"{workload['metadata']['name']}/{container['name']}"
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{where}: {kind}"


def test_long_running_containers_have_liveness_and_readiness_probes(rendering) -> None:
    long_running = [
        (w, c) for w, c, init in rendering.containers() if not init and w["kind"] != "Job"
    ]
    assert long_running
    for workload, container in long_running:
        where = f"{workload['metadata']['name']}/{container['name']}"
        assert "livenessProbe" in container and "readinessProbe" in container, where
        ports = {p["name"] for p in container.get("ports", [])}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            check = container.get(probe, {})
            if "httpGet" in check:  # a probe on a port the container does not open never passes
                assert check["httpGet"]["port"] in ports, f"{where}: {probe}"


def test_writable_paths_are_volumes(rendering) -> None:
    """With a read-only root file system, /tmp must be a volume in every long-running pod."""
    for workload, container, init in rendering.containers():
        if init:
            continue
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, workload["metadata"]["name"]


def test_probes_use_the_services_health_endpoints(charts) -> None:
    """The paths the services serve (their FastAPI apps): liveness /api/v1/health everywhere;
    readiness /api/v1/ready where a service defines it."""
    rendered = charts.platform_profile("default")
    ready = {
        "coordinator": "/api/v1/health",
        "registry": "/api/v1/health",
        "metrics": "/api/v1/ready",
        "contribution": "/api/v1/ready",
        "gateway": "/api/v1/ready",
    }
    schemes = {"registry": "HTTPS", "gateway": "HTTPS"}
    for component, path in ready.items():
        container = rendered.component("Deployment", component)["spec"]["template"]["spec"][
            "containers"
        ][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
        assert container["startupProbe"]["httpGet"]["path"] == "/api/v1/health"
        assert container["readinessProbe"]["httpGet"]["path"] == path, component
        assert container["readinessProbe"]["httpGet"]["scheme"] == schemes.get(component, "HTTP")


def _routes_of(app_module: Path) -> set[str]:
    """GET routes a service's app.py declares on its ``/api/v1`` router (read, not imported:
    importing the coordinator costs seconds of torch)."""
    tree = ast.parse(app_module.read_text())
    prefixes = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            if getattr(call.func, "id", None) == "APIRouter":
                prefix = next(k.value.value for k in call.keywords if k.arg == "prefix")
                prefixes[node.targets[0].id] = prefix
    routes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = getattr(node.func.value, "id", None)
            if node.func.attr == "get" and owner in prefixes and node.args:
                routes.add(prefixes[owner] + node.args[0].value)
    return routes


def test_the_probed_endpoints_exist_in_the_services(charts) -> None:
    """Every path a probe asks for is a route of that service's application."""
    rendered = charts.platform_profile("default")
    for component in ("coordinator", "registry", "metrics", "contribution", "gateway"):
        app = charts.root / "services" / component / f"consortium_{component}" / "app.py"
        routes = _routes_of(app)
        assert "/api/v1/health" in routes, component
        container = rendered.component("Deployment", component)["spec"]["template"]["spec"][
            "containers"
        ][0]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["path"] in routes, f"{component} {probe}"
