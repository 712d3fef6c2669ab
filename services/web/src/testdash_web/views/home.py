"""The first page: servers and their recent runs (the full dashboard comes later)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from testdash_models import db
from testdash_models.models import File, Run, Server

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    """Servers with run counts, and the 50 most recent runs."""
    servers = db.session.execute(
        select(Server, func.count(Run.id))
        .outerjoin(Run, Run.server_id == Server.id)
        .group_by(Server.id)
        .order_by(Server.name)
    ).all()
    runs = db.session.scalars(
        select(Run).order_by(Run.started_at.desc().nulls_last(), Run.id.desc()).limit(50)
    ).all()
    rejected = db.session.scalar(select(func.count(File.id)).where(File.status == "rejected"))
    return render_template("home/index.html", servers=servers, runs=runs, rejected=rejected)
