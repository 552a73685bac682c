"""values.schema.json refuses bad values with an error that names the value, before anything is
rendered; every value of values.yaml is documented with a `## @param` line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from helm_python import HelmValuesError


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"image": {"tag": "latest"}}, r"at '/image/tag'"),
        ({"gateway": {"image": {"tag": "latest"}}}, r"at '/gateway/image/tag'"),
        ({"gateway": {"replicas": "two"}}, r"at '/gateway/replicas'.*integer"),
        ({"gatway": {"replicas": 2}}, r"additional propert.*'gatway'"),
        (
            {"gateway": {"resources": {"limits": {"memory": None}}}},
            r"at '/gateway/resources/limits'.*memory",
        ),
        ({"database": {"url": "postgres://db/consortium"}}, r"at '/database/url'"),
        (
            {"natsAuthorization": {"participants": ["hospital 7"]}},
            r"at '/natsAuthorization/participants/0'",
        ),
        (
            {"containerSecurityContext": {"runAsNonRoot": False}},
            r"at '/containerSecurityContext/runAsNonRoot'",
        ),
        ({"pki": {"mode": "self-signed"}}, r"at '/pki/mode'"),
        ({"natsPublic": {"type": "ClusterIP"}}, r"at '/natsPublic/type'"),
        ({"gateway": {"service": {"nodePort": 80}}}, r"at '/gateway/service/nodePort'"),
    ],
)
def test_bad_platform_values_are_refused_with_their_path(charts, values, message) -> None:
    with pytest.raises(HelmValuesError, match=re.compile(message, re.S)):
        charts.platform_profile("default", values=values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"nats": {"url": ""}}, r"at '/nats/url'"),
        ({"nats": {"url": "nats://plain:4222"}}, r"at '/nats/url'"),
        ({"image": {"tag": "latest"}}, r"at '/image/tag'"),
        ({"tasks": [], "apps": []}, r"minItems"),
        ({"privacy": {"epsilonLimit": -1}}, r"at '/privacy/epsilonLimit'"),
        ({"apps": ["not an import path"]}, r"at '/apps/0'"),
    ],
)
def test_bad_hospital_values_are_refused_with_their_path(charts, values, message) -> None:
    with pytest.raises(HelmValuesError, match=re.compile(message, re.S)):
        charts.hospital_profile("default", values=values)


def test_a_digest_pins_the_image_in_addition_to_its_tag(charts) -> None:
    digest = "sha256:" + "ab" * 32
    rendered = charts.platform_profile("default", values={"gateway": {"image": {"digest": digest}}})
    image = rendered.component("Deployment", "gateway")["spec"]["template"]["spec"]["containers"][
        0
    ]["image"]
    assert image == f"consortium/gateway:0.1.0@{digest}"
    registry = charts.platform_profile(
        "default", values={"image": {"registry": "registry.example.org/fl", "tag": "1.2.3"}}
    )
    image = registry.component("Deployment", "metrics")["spec"]["template"]["spec"]["containers"][
        0
    ]["image"]
    assert image == "registry.example.org/fl/consortium/metrics:1.2.3"


def _params(values_file: Path) -> set[str]:
    return set(re.findall(r"^## @param (\S+)", values_file.read_text(), re.M))


def _leaves(values: dict[str, Any], prefix: str = "") -> set[str]:
    found = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            found |= _leaves(value, f"{path}.")
        else:
            found.add(path)
    return found


@pytest.mark.parametrize("chart", ["platform_dir", "hospital_dir"])
def test_every_value_is_documented(charts, chart) -> None:
    values_file = getattr(charts, chart) / "values.yaml"
    values = yaml.safe_load(values_file.read_text())
    params = _params(values_file)
    leaves = _leaves(values)
    undocumented = {
        leaf for leaf in leaves if not any(leaf == p or leaf.startswith(f"{p}.") for p in params)
    }
    assert not undocumented
    unknown = {
        p for p in params if not any(leaf == p or leaf.startswith(f"{p}.") for leaf in leaves)
    }
    assert not unknown, "## @param lines for values that do not exist"


@pytest.mark.parametrize(
    ("chart", "profiles"),
    [("platform_dir", ["single-node.yaml", "ha.yaml"]), ("hospital_dir", ["gpu.yaml"])],
)
def test_values_and_profiles_pass_a_draft_7_validator_too(charts, chart, profiles) -> None:
    """Helm 3 checks values.schema.json with another library than Helm 4's: the schemas are
    plain draft 7, and the shipped values pass an independent validator."""
    directory = getattr(charts, chart)
    schema = json.loads((directory / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    defaults = yaml.safe_load((directory / "values.yaml").read_text())
    required = charts.hospital_required if chart == "hospital_dir" else {}
    for profile in [None, *profiles]:
        values = _merged(defaults, required)
        if profile:
            values = _merged(values, yaml.safe_load((directory / "profiles" / profile).read_text()))
        errors = sorted(validator.iter_errors(values), key=str)
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    broken = _merged(defaults, {**required, "image": {"tag": "latest"}})
    assert not validator.is_valid(broken)


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
