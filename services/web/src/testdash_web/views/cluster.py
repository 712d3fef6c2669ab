"""The engine's CronJobs on the Ingest page, and their "Run now" button (admins only)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, request
from flask.typing import ResponseReturnValue

from testdash_web import k8s
from testdash_web.auth import error, is_api, require
from testdash_web.views.auth import _safe_next

bp = Blueprint("cluster", __name__)


@bp.app_context_processor
def cluster_context() -> dict[str, object]:
    """``cluster_section()`` for the Ingest page's include; it calls the API only when used."""
    return {"cluster_section": lambda: k8s.section(current_app.config)}


@bp.post("/ingest/cronjobs/<name>/run")
@bp.post("/api/v1/cronjobs/<name>/run")
@require("admin")
def run_now(name: str) -> ResponseReturnValue:
    """Create a Job from the CronJob NAME now, as ``kubectl create job --from`` does."""
    try:
        job = k8s.run_now(current_app.config, name)
    except k8s.Unavailable as exc:
        return error(409, "no_cluster", str(exc))
    except LookupError as exc:
        return error(404, "no_cronjob", str(exc))
    except Exception as exc:  # the API server said no (RBAC, quota): say so, do not crash
        current_app.logger.warning("run now of %s failed: %s", name, exc)
        return error(502, "kubernetes_failed", f"the Kubernetes API refused: {exc}")
    if is_api():
        return jsonify(job=job, cronjob=name), 201
    flash(f"Started job {job} from CronJob {name}.")
    return redirect(_safe_next(request.form.get("next")), 303)
