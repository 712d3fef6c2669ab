"""The Ingest page's CronJobs and "Run now", against a minimal fake Kubernetes API server.

No real API server can run here, so a tiny HTTP server in a thread speaks just the
endpoints the web uses: list CronJobs (label and name selectors) and create a Job.
The Job body is compared with what ``kubectl create job --from=cronjob/NAME`` sends
(kubectl's createJobFromCronJob: manual annotation, template labels and annotations,
controller owner reference to the CronJob, the template's spec unchanged).
"""

from __future__ import annotations

import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from flask import render_template_string
from testdash_web import k8s

from tests.web.writeside import bearer, csrf_from, junit, make_token, sign_in

NS = "testdash"
SELECTOR = "app.kubernetes.io/name=testdash,app.kubernetes.io/component=engine"
TEMPLATE_SPEC = {
    "backoffLimit": 0,
    "template": {
        "metadata": {"labels": {"app.kubernetes.io/name": "testdash"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "engine", "image": "testdash-engine:1", "args": ["run", "--server", "a"]}
            ],
        },
    },
}


def cronjob(name, *, labels=None, active=0, template_meta=None):
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"uid-{name}",
            "labels": labels
            if labels is not None
            else dict(kv.split("=") for kv in SELECTOR.split(",")),
        },
        "spec": {
            "schedule": "*/15 * * * *",
            "timeZone": "Etc/UTC",
            "jobTemplate": {"metadata": template_meta or {}, "spec": TEMPLATE_SPEC},
        },
        "status": {
            "lastScheduleTime": "2026-11-30T09:45:00Z",
            "lastSuccessfulTime": "2026-11-30T09:46:10Z",
            "active": [{"kind": "Job", "name": f"{name}-1"}] * active,
        },
    }


class FakeApi:
    """Just enough of the Kubernetes API: GET cronjobs (selectors), POST jobs."""

    def __init__(self, cronjobs):
        self.cronjobs, self.created, self.requests = cronjobs, [], []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                api.requests.append(("GET", url.path))
                if url.path != f"/apis/batch/v1/namespaces/{NS}/cronjobs":
                    return self._send(404, {"kind": "Status", "code": 404})
                query = parse_qs(url.query)
                wanted = dict(
                    kv.split("=") for kv in query.get("labelSelector", [""])[0].split(",") if kv
                )
                name = query.get("fieldSelector", ["metadata.name="])[0].split("=", 1)[1]
                items = [
                    c
                    for c in api.cronjobs
                    if wanted.items() <= c["metadata"]["labels"].items()
                    and name in ("", c["metadata"]["name"])
                ]
                self._send(200, {"kind": "CronJobList", "apiVersion": "batch/v1", "items": items})

            def do_POST(self):
                api.requests.append(("POST", self.path))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != f"/apis/batch/v1/namespaces/{NS}/jobs":
                    return self._send(404, {"kind": "Status", "code": 404})
                api.created.append(body)
                self._send(201, {**body, "metadata": {**body["metadata"], "uid": "job-uid"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


@pytest.fixture
def fake_api():
    api = FakeApi(
        [
            cronjob("testdash-engine-build-linux"),
            cronjob("testdash-uploads"),
            cronjob("other", labels={}),
        ]
    )
    yield api
    api.close()


@pytest.fixture
def cluster_web(make_web, fake_api):
    return make_web(K8S_API_URL=fake_api.url, K8S_NAMESPACE=NS, K8S_CRONJOB_SELECTOR=SELECTOR)


def kubectl_job(cron, name):
    """What kubectl create job NAME --from=cronjob/CRON sends, less Go's zero values."""
    template = cron["spec"]["jobTemplate"]
    annotations = {
        "cronjob.kubernetes.io/instantiate": "manual",
        **template["metadata"].get("annotations", {}),
    }
    metadata = {"name": name, "namespace": NS, "annotations": annotations}
    if template["metadata"].get("labels"):
        metadata["labels"] = template["metadata"]["labels"]
    metadata["ownerReferences"] = [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": cron["metadata"]["name"],
            "uid": cron["metadata"]["uid"],
            "controller": True,
        }
    ]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template["spec"]}


def test_job_body_matches_kubectl_create_job_from_cronjob():
    cron = cronjob(
        "nightly",
        template_meta={
            "labels": {"team": "qa"},
            "annotations": {"cronjob.kubernetes.io/instantiate": "template-wins", "a": "b"},
        },
    )
    body = k8s.job_from_cronjob(cron, suffix="x1y2z3")
    assert body == kubectl_job(cron, "nightly-manual-x1y2z3")
    assert body["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "template-wins"


def test_job_name_stays_within_63_characters():
    long = "testdash-engine-" + "a" * 60
    name = k8s.job_from_cronjob(cronjob(long))["metadata"]["name"]
    assert len(name) <= 63 and re.fullmatch(r"testdash-engine-a+-manual-[0-9a-f]{6}", name)
    assert "labels" not in k8s.job_from_cronjob(cronjob("plain"))["metadata"], (
        "Go omits empty labels"
    )


def test_ingest_section_lists_the_engine_cronjobs(cluster_web, fake_api):
    with cluster_web.test_request_context("/ingest"):
        cluster_web.preprocess_request()
        html = render_template_string('{% include "cluster/_cronjobs.html" %}')
    assert (
        "testdash-engine-build-linux" in html and "testdash-uploads" in html and "other" not in html
    )
    assert "*/15 * * * *" in html and "2026-11-30 09:45" in html
    assert "Run now" not in html, "anonymous readers see no button"
    assert ("GET", f"/apis/batch/v1/namespaces/{NS}/cronjobs") in fake_api.requests


def test_ingest_section_says_why_it_is_absent_outside_a_cluster(web, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with web.test_request_context("/ingest"):
        web.preprocess_request()
        html = render_template_string('{% include "cluster/_cronjobs.html" %}')
    assert "not running inside a Kubernetes cluster" in html and "<table>" not in html
    assert "not running inside a Kubernetes cluster" in web.test_client().get("/ingest").get_data(
        as_text=True
    )


def test_signed_in_admin_runs_a_cronjob_now(cluster_web, fake_api):
    client = cluster_web.test_client()
    sign_in(client, make_token(cluster_web, "ops", "admin"))
    page = client.get("/uploads").get_data(as_text=True)
    response = client.post(
        "/ingest/cronjobs/testdash-engine-build-linux/run",
        data={"csrf_token": csrf_from(page), "next": "/ingest"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/ingest"
    [body] = fake_api.created
    name = body["metadata"]["name"]
    assert re.fullmatch(r"testdash-engine-build-linux-manual-[0-9a-f]{6}", name)
    assert body == kubectl_job(cronjob("testdash-engine-build-linux"), name)
    ingest = client.get("/ingest").get_data(as_text=True)
    assert f"Started job {name}" in ingest and "Run now" in ingest, (
        "the Ingest page shows the section"
    )


def test_run_now_needs_an_admin_and_a_csrf_token(cluster_web, fake_api):
    client = cluster_web.test_client()
    anonymous = client.post("/ingest/cronjobs/testdash-uploads/run")
    assert anonymous.status_code == 400, "no CSRF token, no session: refused before anything"
    upload = make_token(cluster_web, "ci", "upload")
    assert (
        client.post("/api/v1/cronjobs/testdash-uploads/run", headers=bearer(upload)).status_code
        == 403
    )
    sign_in(client, make_token(cluster_web, "ops", "admin"))
    assert (
        client.post("/ingest/cronjobs/testdash-uploads/run", data={"csrf_token": "x"}).status_code
        == 400
    )
    assert fake_api.created == []


def test_run_now_refuses_cronjobs_outside_the_selector(cluster_web, fake_api):
    admin = make_token(cluster_web, "ops", "admin")
    response = cluster_web.test_client().post("/api/v1/cronjobs/other/run", headers=bearer(admin))
    assert response.status_code == 404 and fake_api.created == []
    ok = cluster_web.test_client().post(
        "/api/v1/cronjobs/testdash-uploads/run", headers=bearer(admin)
    )
    assert ok.status_code == 201 and ok.json["job"].startswith("testdash-uploads-manual-")


def test_an_upload_starts_the_uploads_cronjob_unless_it_is_running(cluster_web, fake_api):
    secret = make_token(cluster_web, "ci", "upload")
    client = cluster_web.test_client()
    data = {"server": "s", "run_dir": "r1", "file": [(io.BytesIO(junit()), "a.xml")]}
    assert client.post("/api/v1/uploads", data=data, headers=bearer(secret)).status_code == 202
    [body] = fake_api.created
    assert body["metadata"]["ownerReferences"][0]["name"] == "testdash-uploads"
    fake_api.cronjobs[1] = cronjob("testdash-uploads", active=1)
    data = {"server": "s", "run_dir": "r2", "file": [(io.BytesIO(junit()), "a.xml")]}
    assert client.post("/api/v1/uploads", data=data, headers=bearer(secret)).status_code == 202
    assert len(fake_api.created) == 1, "a running uploads job picks the new upload up"


def test_an_unreachable_api_server_never_fails_an_upload(make_web):
    app = make_web(K8S_API_URL="http://127.0.0.1:1", K8S_NAMESPACE=NS)
    secret = make_token(app, "ci", "upload")
    data = {"server": "s", "run_dir": "r1", "file": [(io.BytesIO(junit()), "a.xml")]}
    assert (
        app.test_client().post("/api/v1/uploads", data=data, headers=bearer(secret)).status_code
        == 202
    )
