"""Both charts render in every profile and every object is valid Kubernetes (strict schemas).

The strict schemas of ``kubernetes-validate`` refuse any field Kubernetes does not know, so a
typo in a template (``livenesProbe``) fails here instead of being dropped by the API server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError

CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
"""Kinds of CRDs (no schema in kubernetes-validate): checked by their own tests."""


def _validate(objects: list[dict], versions: tuple[str, ...]) -> None:
    for obj in objects:
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except SchemaNotFoundError:
                assert (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS, obj["kind"]
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} ({version}): {where}: {exc}")


def test_every_object_is_valid_kubernetes(rendering, charts) -> None:
    assert rendering.objects
    _validate(rendering.objects, (charts.kube_version, charts.min_kube_version))


@pytest.mark.parametrize("profile", ["default", "single-node", "ha"])
def test_objects_for_the_bundled_dependencies_are_valid_too(charts, profile) -> None:
    """With NATS and PostgreSQL on, the chart adds their authorization, public Service and
    NetworkPolicies; and with the Prometheus Operator's API, its monitors and rules."""
    rendered = charts.platform_profile(
        profile, dependencies=True, api_versions=(charts.monitoring_api,)
    )
    _validate(rendered.objects, (charts.kube_version,))


def test_names_are_unique_and_fit_dns_labels(rendering) -> None:
    seen = set()
    for obj in rendering.objects:
        key = (obj["kind"], obj["metadata"]["name"])
        assert key not in seen, key
        seen.add(key)
        assert len(obj["metadata"]["name"]) <= 63, key
    assert len(seen) > 3


def test_the_kubernetes_validate_command_accepts_the_rendered_files(charts, tmp_path: Path) -> None:
    """The command CI documents: `kubernetes-validate --strict` on every rendered file."""
    files = []
    for name, rendering in (
        ("platform", charts.platform_profile("ha", api_versions=(charts.monitoring_api,))),
        ("hospital", charts.hospital_profile("default")),
    ):
        for index, (source, text) in enumerate(sorted(rendering.sources.items())):
            if source.endswith("NOTES.txt") or not text.strip():
                continue
            path = tmp_path / f"{name}-{index:02d}.yaml"
            path.write_text(text)
            files.append(str(path))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubernetes_validate",
            "--strict",
            "--quiet",
            "--no-warn",
            "-k",
            charts.kube_version,
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(files) > 10


def test_a_broken_object_is_caught_by_the_strict_schemas(charts) -> None:
    """The validation above can fail: an unknown field in a rendered Deployment is refused."""
    deployment = charts.platform_profile("default").component("Deployment", "gateway")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, charts.kube_version, strict=True)


def test_helm_lint_finds_nothing_but_the_dependencies_left_to_fetch(charts) -> None:
    """`helm lint --strict`: the only finding is that the dependency archives are not in the
    repository (`helm dependency build` fetches them)."""
    for chart_dir, values, allowed in (
        (
            charts.platform_dir,
            charts.dependencies_off,
            ["chart directory is missing these dependencies: nats,cluster"],
        ),
        (charts.hospital_dir, charts.hospital_required, []),
    ):
        report = helm.lint(chart_dir, values, strict=True, kube_version=f"v{charts.kube_version}")
        findings = [m["error"] for m in report["messages"] if m["severity"] >= 2]
        assert findings == allowed, chart_dir.name
