"""Who can reach what: from outside the cluster only the gateway's HTTPS port and the NATS
client port (which requires a certificate from the platform CA); everything else only from the
pods that call it. Checked on the rendered NetworkPolicies and Services."""

from __future__ import annotations

from typing import Any

OPEN = {"0.0.0.0/0", "::/0"}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _open_to_outside(rule: dict[str, Any]) -> bool:
    """A rule without sources, or with an ipBlock of the whole internet, admits anyone."""
    peers = rule.get("from")
    if not peers:
        return True
    return any(peer.get("ipBlock", {}).get("cidr") in OPEN for peer in peers)


def _reachable_from_outside(rendered) -> set[tuple[str, int]]:
    """(what the policy selects, port) for every ingress rule that admits anyone."""
    found = set()
    for policy in rendered.of_kind("NetworkPolicy"):
        labels = policy["spec"]["podSelector"].get("matchLabels", {})
        target = labels.get("app.kubernetes.io/component", policy["metadata"]["name"])
        for rule in policy["spec"].get("ingress", []):
            if _open_to_outside(rule):
                ports = [p["port"] for p in rule.get("ports", [])] or ["every port"]
                found |= {(target, port) for port in ports}
    return found


def test_only_the_gateway_is_reachable_from_outside_with_nats_of_your_own(charts) -> None:
    for profile in ("default", "single-node", "ha"):
        rendered = charts.platform_profile(profile)
        assert _reachable_from_outside(rendered) == {("gateway", 8443)}, profile


def test_with_the_bundled_nats_its_client_port_is_reachable_too(charts) -> None:
    for profile in ("default", "ha"):
        rendered = charts.platform_profile(profile, dependencies=True)
        assert _reachable_from_outside(rendered) == {("gateway", 8443), ("nats", 4222)}, profile


def test_exposing_the_registry_is_a_choice(charts) -> None:
    rendered = charts.platform_profile(
        "default", values={"registry": {"expose": {"enabled": True}}}
    )
    assert ("registry", 8701) in _reachable_from_outside(rendered)
    assert rendered.named("Service", "demo-consortium-registry-public")["spec"]["type"] == (
        "LoadBalancer"
    )


def test_every_pod_of_the_release_is_behind_a_policy(charts) -> None:
    for dependencies in (False, True):
        rendered = charts.platform_profile("ha", dependencies=dependencies)
        policies = rendered.of_kind("NetworkPolicy")
        for workload in rendered.workloads():
            labels = workload["spec"]["template"]["metadata"]["labels"]
            covering = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
            assert covering, workload["metadata"]["name"]
            assert all("Ingress" in p["spec"]["policyTypes"] for p in covering)


def test_services_answer_only_who_calls_them(charts) -> None:
    rendered = charts.platform_profile("default")
    gateway = {
        "app.kubernetes.io/name": "consortium",
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/component": "gateway",
    }
    for component, port in (("coordinator", 8700), ("registry", 8701), ("contribution", 8703)):
        policy = rendered.component("NetworkPolicy", component)
        callers = [
            peer["podSelector"]["matchLabels"]
            for rule in policy["spec"]["ingress"]
            for peer in rule["from"]
            if "podSelector" in peer
        ]
        assert callers == [gateway], component
        assert {p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]} == {port}
    metrics = rendered.component("NetworkPolicy", "metrics")
    assert all(
        "namespaceSelector" in peer for r in metrics["spec"]["ingress"] for peer in r["from"]
    )


def test_an_empty_scraper_list_never_opens_a_port(charts) -> None:
    """An empty `from` in a NetworkPolicy admits everyone: no scrapers must mean no rule."""
    rendered = charts.platform_profile(
        "default", dependencies=True, values={"networkPolicy": {"metricsFrom": []}}
    )
    assert _reachable_from_outside(rendered) == {("gateway", 8443), ("nats", 4222)}


def test_only_the_gateway_and_nats_get_outside_addresses(charts) -> None:
    rendered = charts.platform_profile("default", dependencies=True)
    exposed = {
        s["metadata"]["name"]
        for s in rendered.of_kind("Service")
        if s["spec"].get("type", "ClusterIP") != "ClusterIP"
    }
    assert exposed == {"demo-consortium-gateway", "demo-nats-public"}
    nats = rendered.named("Service", "demo-nats-public")
    assert [p["port"] for p in nats["spec"]["ports"]] == [4222]
    assert nats["spec"]["selector"] == {
        "app.kubernetes.io/name": "nats",
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/component": "nats",
    }
    single = charts.platform_profile("single-node", dependencies=True)
    assert single.named("Service", "demo-consortium-gateway")["spec"]["type"] == "NodePort"
    assert single.named("Service", "demo-nats-public")["spec"]["ports"][0]["nodePort"] == 30422


def test_the_hospital_pod_accepts_no_connection(charts) -> None:
    rendered = charts.hospital_profile("default")
    (policy,) = rendered.of_kind("NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"] and policy["spec"]["ingress"] == []
    assert not rendered.of_kind("Service")
    narrowed = charts.hospital_profile(
        "default", values={"networkPolicy": {"egressTo": ["203.0.113.7/32"]}}
    )
    (policy,) = narrowed.of_kind("NetworkPolicy")
    assert "Egress" in policy["spec"]["policyTypes"]
    targets = [
        peer["ipBlock"]["cidr"] for rule in policy["spec"]["egress"] for peer in rule.get("to", [])
    ]
    assert targets == ["203.0.113.7/32"]
