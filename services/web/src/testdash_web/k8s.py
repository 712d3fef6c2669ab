"""The engine's CronJobs: listed for the Ingest page, and run now as ``kubectl create job --from``.

Objects travel as raw JSON (``_preload_content=False``), never through the client's
models, so a job template is copied field for field even where the client is older
than the cluster.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger("testdash.web.k8s")
SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
TIMEOUT = 5  # seconds: a page must not hang on a slow API server
MAX_NAME = 63  # the job name becomes a label value (job-name), and those stop at 63


class Unavailable(Exception):
    """No cluster to talk to; the message says why."""


@dataclass(frozen=True, slots=True)
class CronJob:
    """What the Ingest page shows of one CronJob."""

    name: str
    schedule: str
    time_zone: str | None
    suspended: bool
    last_schedule: datetime | None
    last_success: datetime | None
    active: int


def _client(config: Mapping[str, Any]) -> Any:
    from kubernetes import client
    from kubernetes import config as kube_config

    configuration = client.Configuration()
    if config["K8S_API_URL"]:
        configuration.host = config["K8S_API_URL"]
    else:
        try:
            kube_config.load_incluster_config(client_configuration=configuration)
        except kube_config.ConfigException as exc:
            raise Unavailable(f"not running inside a Kubernetes cluster ({exc})") from None
    return client.BatchV1Api(client.ApiClient(configuration))


def namespace(config: Mapping[str, Any]) -> str:
    """K8S_NAMESPACE, else the pod's own namespace, else ``default``."""
    if config["K8S_NAMESPACE"]:
        return str(config["K8S_NAMESPACE"])
    try:
        with open(SA_NAMESPACE, encoding="utf-8") as fh:
            return fh.read().strip() or "default"
    except OSError:
        return "default"


def _items(config: Mapping[str, Any], name: str | None = None) -> list[dict[str, Any]]:
    """The raw CronJobs matching the configured selector (and NAME)."""
    api = _client(config)
    extra = {"field_selector": f"metadata.name={name}"} if name else {}
    response = api.list_namespaced_cron_job(
        namespace(config),
        label_selector=config["K8S_CRONJOB_SELECTOR"],
        _preload_content=False,
        _request_timeout=TIMEOUT,
        **extra,
    )
    items: list[dict[str, Any]] = json.loads(response.data).get("items") or []
    return items


def list_cronjobs(config: Mapping[str, Any]) -> list[CronJob]:
    """The engine's CronJobs with schedule, last schedule and active jobs."""
    found = []
    for item in _items(config):
        spec, status = item.get("spec") or {}, item.get("status") or {}
        found.append(
            CronJob(
                name=item["metadata"]["name"],
                schedule=spec.get("schedule", ""),
                time_zone=spec.get("timeZone"),
                suspended=bool(spec.get("suspend")),
                last_schedule=_time(status.get("lastScheduleTime")),
                last_success=_time(status.get("lastSuccessfulTime")),
                active=len(status.get("active") or []),
            )
        )
    return sorted(found, key=lambda c: c.name)


def section(config: Mapping[str, Any]) -> dict[str, Any]:
    """The Ingest page's cluster section: the CronJobs, or why there are none."""
    try:
        return {"available": True, "reason": None, "cronjobs": list_cronjobs(config)}
    except Unavailable as exc:
        return {"available": False, "reason": str(exc), "cronjobs": []}
    except Exception as exc:  # the API server's errors must not take the page down
        log.warning("listing CronJobs failed: %s", exc)
        return {"available": False, "reason": f"the Kubernetes API failed: {exc}", "cronjobs": []}


def job_from_cronjob(cronjob: Mapping[str, Any], suffix: str | None = None) -> dict[str, Any]:
    """The Job ``kubectl create job NAME --from=cronjob/CRONJOB`` sends (its create_job.go)."""
    meta, template = cronjob["metadata"], cronjob["spec"]["jobTemplate"]
    template_meta = template.get("metadata") or {}
    suffix = suffix or secrets.token_hex(3)
    stem = meta["name"][: MAX_NAME - len(f"-manual-{suffix}")].rstrip("-.")
    annotations = {"cronjob.kubernetes.io/instantiate": "manual"}
    annotations.update(template_meta.get("annotations") or {})
    job_meta: dict[str, Any] = {
        "name": f"{stem}-manual-{suffix}",
        "namespace": meta.get("namespace"),
        "annotations": annotations,
    }
    if template_meta.get("labels"):
        job_meta["labels"] = dict(template_meta["labels"])
    job_meta["ownerReferences"] = [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
        }
    ]
    if job_meta["namespace"] is None:
        del job_meta["namespace"]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta, "spec": template["spec"]}


def run_now(config: Mapping[str, Any], name: str) -> str:
    """Create a Job from CronJob NAME, if it is one of the engine's; returns the Job's name."""
    items = _items(config, name)
    if not items:
        raise LookupError(f"no CronJob {name!r} matches {config['K8S_CRONJOB_SELECTOR']!r}")
    body = job_from_cronjob(items[0])
    _client(config).create_namespaced_job(
        namespace(config), body, _preload_content=False, _request_timeout=TIMEOUT
    )
    log.info("created job %s from cronjob %s", body["metadata"]["name"], name)
    return str(body["metadata"]["name"])


def run_uploads_now(config: Mapping[str, Any]) -> str | None:
    """Best effort: start the uploads CronJob now unless it is running; never raises."""
    name = config["K8S_UPLOADS_CRONJOB"]
    if not name:
        return None
    try:
        items = _items(config, name)
        if not items or (items[0].get("status") or {}).get("active"):
            return None  # a running job claims pending uploads until none are left
        return run_now(config, name)
    except Unavailable:
        return None
    except Exception as exc:
        log.warning("could not start the uploads CronJob %s now: %s", name, exc)
        return None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
