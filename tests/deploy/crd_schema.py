"""Validate custom resources against the vendored prometheus-operator CRD schemas.

tests/deploy/crds/ holds each CRD's openAPIV3Schema as upstream publishes it (README.md there
says from where). A Kubernetes structural schema is not quite JSON Schema, so it is turned into
one that refuses what the API server refuses under `kubectl apply --validate=strict`:
- an object with `properties` and no `additionalProperties` rejects unknown fields (the API
  server prunes them, or fails with strict field validation); `x-kubernetes-preserve-unknown-fields`
  keeps an object open, as it does on the server;
- `x-kubernetes-int-or-string` accepts an integer or a string, nothing else;
- `metadata` of the object is checked against ObjectMeta from kubernetes-validate's strict
  schemas (the server validates it as ObjectMeta, not with the CRD's `type: object`);
- `x-kubernetes-list-type: map` refuses two items with the same keys, `set` duplicate items;
- `format: int32`/`int64` bound integers; `nullable` lets null through;
- patterns are Go RE2: a `(?i)` after a `^` is moved to the front for Python's `re`.
CEL rules (`x-kubernetes-validations`) are not evaluated: the vendored schemas have none,
and `load` fails if one appears, so a refreshed schema cannot pass them unchecked.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import referencing
import yaml

CRD_DIR = pathlib.Path(__file__).resolve().parent / "crds"
SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.v1.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.v1.yaml",
}
KINDS = {kind for _api, kind in SCHEMAS}
# ObjectMeta as kubernetes-validate ships it for the oldest Kubernetes we support (strict).
OBJECT_META_VERSION = "v1.27.0-local-strict"
OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
# Keywords with no JSON Schema meaning here (defaults are applied by the server, not checked).
DROPPED = {"description", "default", "example", "externalDocs", "format", "nullable"}


def _pattern(pattern: str) -> str:
    """An RE2 pattern as Python `re` reads it: inline flags must lead in Python 3.11+."""
    if "(?i)" in pattern and not pattern.startswith("(?i)"):
        before = pattern[: pattern.index("(?i)")]
        if re.search(r"[A-Za-z]", before):
            raise NotImplementedError(f"(?i) after letters changes the meaning: {pattern}")
        pattern = "(?i)" + pattern.replace("(?i)", "")
    return pattern


def _keyword(key: str, value: Any) -> Any:
    """One keyword's value converted; None drops the keyword."""
    if key == "properties":
        return {name: to_json_schema(sub) for name, sub in value.items()}
    if key in ("items", "not"):
        return to_json_schema(value)
    if key == "additionalProperties":
        return value if isinstance(value, bool) else to_json_schema(value)
    if key in ("anyOf", "allOf", "oneOf"):
        return [to_json_schema(sub) for sub in value]
    if key == "pattern":
        return _pattern(value)
    if key == "x-kubernetes-list-map-keys":
        return value  # checked by _list_map_keys below
    if key in DROPPED or key.startswith("x-kubernetes-"):
        return None
    return value


def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """One structural-schema node as JSON Schema with the API server's strictness."""
    if "x-kubernetes-validations" in node:
        raise NotImplementedError("CEL validation rules are not evaluated here")
    out = {k: v for k, v in ((k, _keyword(k, v)) for k, v in node.items()) if v is not None}
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in node:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("type") == "integer" and node.get("format") in INT_BOUNDS:
        out["minimum"], out["maximum"] = INT_BOUNDS[node["format"]]
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = {"$ref": OBJECT_META}
    open_object = node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node
    if node.get("type") == "object" and not open_object:
        out["additionalProperties"] = False
    if node.get("nullable"):
        out = {"anyOf": [{"type": "null"}, out]}
    return out


def _list_map_keys(
    validator: Any, keys: list[str], instance: Any, _schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """`x-kubernetes-list-type: map`: no two items share the values of the map keys."""
    if not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        if not isinstance(item, dict):
            continue
        key = json.dumps({k: item.get(k) for k in keys}, sort_keys=True)
        if key in seen:
            yield jsonschema.ValidationError(f"duplicate entry for list-map keys {key}")
        seen.add(key)


StructuralValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"x-kubernetes-list-map-keys": _list_map_keys}
)


def _definitions() -> referencing.Resource[Any]:
    path = importlib.resources.files("kubernetes_validate").joinpath(
        "kubernetes-json-schema", OBJECT_META_VERSION, "_definitions.json"
    )
    return referencing.Resource.from_contents(json.loads(path.read_text()))


def load(filename: str) -> dict[str, Any]:
    """The vendored openAPIV3Schema as strict JSON Schema, metadata as ObjectMeta."""
    schema = to_json_schema(yaml.safe_load((CRD_DIR / filename).read_text()))
    schema["properties"]["metadata"] = {"$ref": OBJECT_META}
    return schema


@functools.cache
def validator_for(api_version: str, kind: str) -> Any:
    """A validator for one custom resource kind; unknown kinds and versions are refused."""
    try:
        filename = SCHEMAS[(api_version, kind)]
    except KeyError:
        raise LookupError(f"no vendored CRD schema for {kind} {api_version}") from None
    schema = load(filename)
    StructuralValidator.check_schema(schema)
    return StructuralValidator(schema, registry=_definitions() @ referencing.Registry())


def validate(obj: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError (the most relevant one) if the API server would refuse obj."""
    validator = validator_for(obj.get("apiVersion", ""), obj.get("kind", ""))
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        raise error
