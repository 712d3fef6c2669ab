"""ServiceMonitor and PrometheusRule checked against prometheus-operator's published CRD schemas.

kubernetes-validate has no CRD schemas, so tests/deploy/crds/ vendors them (README.md there)
and tests/deploy/crd_schema.py validates with the API server's strictness: unknown fields are
refused as `kubectl apply --validate=strict` refuses them.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from tests.deploy import crd_schema
from tests.deploy.render import CI_VALUES, load_values, objects, render

IDS = [p.name.removesuffix("-values.yaml") for p in CI_VALUES]


@pytest.fixture(scope="module")
def custom_resources() -> dict[str, list[dict[str, Any]]]:
    """Value set name -> its rendered ServiceMonitors and PrometheusRules."""
    return {
        path.name.removesuffix("-values.yaml"): [
            o for o in objects(render(load_values(path))) if o["kind"] in crd_schema.KINDS
        ]
        for path in CI_VALUES
    }


@pytest.fixture
def monitor(custom_resources) -> dict[str, Any]:
    found = [o for o in custom_resources["full"] if o["kind"] == "ServiceMonitor"]
    return copy.deepcopy(found[0])


@pytest.fixture
def rule(custom_resources) -> dict[str, Any]:
    found = [o for o in custom_resources["full"] if o["kind"] == "PrometheusRule"]
    return copy.deepcopy(found[0])


@pytest.mark.parametrize("name", IDS)
def test_rendered_custom_resources_match_the_published_crds(custom_resources, name):
    for obj in custom_resources[name]:
        crd_schema.validate(obj)


def test_some_value_set_renders_every_crd_kind(custom_resources):
    rendered = {o["kind"] for objs in custom_resources.values() for o in objs}
    assert rendered == crd_schema.KINDS


def test_vendored_schemas_name_their_upstream_commit_and_licence():
    readme = (crd_schema.CRD_DIR / "README.md").read_text()
    for filename in crd_schema.SCHEMAS.values():
        header = (crd_schema.CRD_DIR / filename).read_text().split("\nproperties:", 1)[0]
        assert "prometheus-operator/prometheus-operator" in header
        assert "Apache-2.0" in header
        assert "at commit " in header and "operator.prometheus.io/version" in header
        assert filename in readme


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj[int(part)] if part.isdigit() else obj[part]
    if value is _DELETE:
        del obj[last]
    elif last.isdigit():
        obj[int(last)] = value
    else:
        obj[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("spec.endpoint", [{"port": "metrics"}], "'endpoint' was unexpected"),
        ("spec.endpoints.0.scrapeInterval", "30s", "'scrapeInterval' was unexpected"),
        ("spec.selector.matchLabel", {"a": "b"}, "'matchLabel' was unexpected"),
        ("metadata.label", {"a": "b"}, "'label' was unexpected"),
        ("spec.endpoints", {"port": "metrics"}, "is not of type 'array'"),
        ("spec.endpoints.0.interval", "30 seconds", "does not match"),
        ("spec.endpoints.0.scheme", "ftp", "is not one of"),
        ("spec.endpoints.0.targetPort", True, "is not valid under any of the given schemas"),
        ("spec.selector", _DELETE, "'selector' is a required property"),
        ("spec.sampleLimit", 2**63, "is greater than the maximum"),
        ("spec.scrapeProtocols", ["PrometheusProto", "PrometheusProto"], "non-unique"),
    ],
)
def test_broken_service_monitor_is_refused(monitor, path, value, message):
    _set(monitor, path, value)
    with pytest.raises(jsonschema.ValidationError, match=message):
        crd_schema.validate(monitor)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("spec.groups.0.rules.0.summary", "x", "'summary' was unexpected"),
        ("spec.groups.0.rules.0.expr", _DELETE, "'expr' is a required property"),
        ("spec.groups.0.rules.0.for", "5 minutes", "does not match"),
        ("spec.groups.0.partial_response_strategy", "ignore", "does not match"),
        ("spec.groups.0.name", "", "should be non-empty"),
    ],
)
def test_broken_prometheus_rule_is_refused(rule, path, value, message):
    _set(rule, path, value)
    with pytest.raises(jsonschema.ValidationError, match=message):
        crd_schema.validate(rule)


def test_prometheus_rule_refuses_two_groups_of_one_name(rule):
    rule["spec"]["groups"].append(copy.deepcopy(rule["spec"]["groups"][0]))
    with pytest.raises(jsonschema.ValidationError, match="duplicate entry"):
        crd_schema.validate(rule)


def test_unknown_crd_version_is_refused(monitor):
    monitor["apiVersion"] = "monitoring.coreos.com/v2"
    with pytest.raises(LookupError, match="no vendored CRD schema"):
        crd_schema.validate(monitor)


def test_int_or_string_case_insensitive_patterns_and_maps_are_accepted(monitor, rule):
    monitor["spec"]["endpoints"][0]["targetPort"] = 9100
    monitor["spec"]["nativeHistogramMinBucketFactor"] = "1.1"
    monitor["spec"]["endpoints"][0]["params"] = {"module": ["http_2xx"]}
    crd_schema.validate(monitor)
    monitor["spec"]["endpoints"][0]["targetPort"] = "metrics"
    crd_schema.validate(monitor)
    rule["spec"]["groups"][0]["partial_response_strategy"] = "WARN"
    rule["spec"]["groups"][0]["rules"][0]["expr"] = 1
    rule["spec"]["groups"][0]["rules"][0]["labels"] = {"any_label": "value"}
    crd_schema.validate(rule)


def test_preserve_unknown_fields_embedded_and_nullable_nodes():
    schema = crd_schema.to_json_schema(
        {
            "type": "object",
            "properties": {
                "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "closed": {"type": "object", "properties": {"a": {"type": "string"}}},
                "maybe": {"type": "string", "nullable": True},
                "either": {"x-kubernetes-int-or-string": True},
            },
        }
    )
    check = jsonschema.Draft202012Validator(schema)
    assert check.is_valid({"open": {"anything": 1}, "maybe": None, "either": 3})
    assert check.is_valid({"either": "3"})
    assert not check.is_valid({"either": 3.5})
    assert not check.is_valid({"closed": {"b": "x"}})
    assert not check.is_valid({"unknown": 1})


def test_cel_rules_are_not_silently_ignored():
    with pytest.raises(NotImplementedError):
        crd_schema.to_json_schema({"type": "object", "x-kubernetes-validations": [{"rule": "1"}]})
