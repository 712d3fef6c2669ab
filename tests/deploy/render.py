"""Render the chart with the real Helm engine; write k8s/ from it (``make k8s``).

``python -m tests.deploy.render k8s [DIR]`` writes the kustomize base and example overlay;
tests/deploy/test_k8s_drift.py renders them again and fails when k8s/ differs.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "testdash"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
K8S_RELEASE, K8S_NAMESPACE = "testdash", "testdash"
HEADER = "# Generated from helm/testdash by `make k8s` (values: helm/testdash/ci/k8s-values.yaml). Do not edit.\n"


def load_values(path: pathlib.Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def render(values: dict[str, Any], *, name: str = "td", namespace: str = "ci") -> dict[str, str]:
    """Template path -> rendered text (NOTES.txt included), as `helm template` would."""
    import helm_python

    return helm_python.Chart.load(CHART).render(
        values, name=name, namespace=namespace, is_install=True
    )


def objects(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object of a rendering, in template order."""
    return [
        doc
        for path, text in sorted(rendered.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop the labels that say Helm manages an object: kubectl or kustomize does here."""
    labels = obj["metadata"].get("labels", {})
    labels.pop("helm.sh/chart", None)
    labels.pop("app.kubernetes.io/managed-by", None)
    return obj


def k8s_files() -> dict[str, str]:
    """Relative path -> content of k8s/."""
    values = load_values(CHART / "ci" / "k8s-values.yaml")
    objs = [_plain(o) for o in objects(render(values, name=K8S_RELEASE, namespace=K8S_NAMESPACE))]
    files: dict[str, str] = {}
    base, overlay = [], []
    for obj in objs:
        filename = f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        server = obj["metadata"].get("labels", {}).get("testdash.io/server")
        where, listing = ("overlays/example", overlay) if server else ("base", base)
        files[f"{where}/{filename}"] = HEADER + yaml.safe_dump(obj, sort_keys=False)
        listing.append(filename)
    files["base/kustomization.yaml"] = HEADER + yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "labels": [{"pairs": {"app.kubernetes.io/managed-by": "kustomize"}}],
            "resources": base,
        },
        sort_keys=False,
    )
    files["overlays/example/kustomization.yaml"] = HEADER + yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": K8S_NAMESPACE,
            "resources": ["../../base", *overlay],
            "images": [
                {
                    "name": "ghcr.io/testdash/testdash-web",
                    "newName": "registry.example.com/testdash-web",
                    "newTag": "0.1.0",
                },
                {
                    "name": "ghcr.io/testdash/testdash-engine",
                    "newName": "registry.example.com/testdash-engine",
                    "newTag": "0.1.0",
                },
            ],
        },
        sort_keys=False,
    )
    return files


def write_k8s(target: pathlib.Path) -> None:
    for sub in ("base", "overlays/example"):
        for old in (target / sub).glob("*.yaml"):
            old.unlink()
    for rel, text in k8s_files().items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:2] != ["k8s"]:
        raise SystemExit("usage: python -m tests.deploy.render k8s [DIR]")
    write_k8s(pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "k8s")
