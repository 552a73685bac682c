"""Replicas, rollouts, autoscaling and disruption budgets per profile.

The coordinator and the metrics service are single pods replaced with Recreate: the
coordinator takes over unfinished jobs at start-up and the metrics service acknowledges events
cumulatively, so a second pod of either would run jobs twice or could lose events. Neither gets
an autoscaler, and the schema refuses a replica count for them.
"""

from __future__ import annotations

import pytest
from helm_python import HelmValuesError


@pytest.mark.parametrize("profile", ["default", "single-node", "ha"])
def test_single_writer_services_run_once_and_are_replaced_not_overlapped(charts, profile) -> None:
    rendering = charts.platform_profile(profile)
    for component in ("coordinator", "metrics"):
        deployment = rendering.component("Deployment", component)
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    scaled = {
        h["spec"]["scaleTargetRef"]["name"] for h in rendering.of_kind("HorizontalPodAutoscaler")
    }
    assert not scaled & {"demo-consortium-coordinator", "demo-consortium-metrics"}


def test_the_participant_runs_once(charts) -> None:
    (deployment,) = charts.hospital_profile("default").of_kind("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_ha_scales_the_gateway_and_spreads_replicas(charts) -> None:
    rendered = charts.platform_profile("ha")
    (hpa,) = rendered.of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "demo-consortium-gateway",
    }
    assert (
        hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    )
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    gateway = rendered.component("Deployment", "gateway")
    assert "replicas" not in gateway["spec"]  # the autoscaler owns it
    assert rendered.component("Deployment", "registry")["spec"]["replicas"] >= 2
    for component in ("gateway", "registry"):
        spread = rendered.component("Deployment", component)["spec"]["template"]["spec"][
            "topologySpreadConstraints"
        ]
        keys = {c["topologyKey"] for c in spread}
        assert {"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= keys
        for constraint in spread:
            assert (
                constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"]
                == component
            )


def test_rolling_updates_keep_every_replica_serving(charts) -> None:
    rendered = charts.platform_profile("ha")
    for component in ("gateway", "registry", "contribution"):
        strategy = rendered.component("Deployment", component)["spec"]["strategy"]
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, component


@pytest.mark.parametrize(
    ("profile", "budgeted"),
    [
        ("default", {"registry", "gateway"}),
        ("single-node", set()),
        ("ha", {"registry", "gateway", "contribution"}),
    ],
)
def test_components_with_several_pods_have_a_disruption_budget(charts, profile, budgeted) -> None:
    rendered = charts.platform_profile(profile)
    budgets = {
        b["metadata"]["labels"]["app.kubernetes.io/component"]: b
        for b in rendered.of_kind("PodDisruptionBudget")
    }
    assert set(budgets) == budgeted
    for component, budget in budgets.items():
        assert budget["spec"]["maxUnavailable"] == 1
        deployment = rendered.component("Deployment", component)
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]


@pytest.mark.parametrize("component", ["coordinator", "metrics"])
def test_the_schema_refuses_replicas_for_single_writers(charts, component) -> None:
    with pytest.raises(HelmValuesError, match=rf"/{component}.*replicas"):
        charts.platform_profile("default", values={component: {"replicas": 2}})
