"""Rename aliases and quarantine: admin forms on the test page, the quarantine list."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from testdash_models import db
from testdash_models.identity import AliasError, add_alias, test_key
from testdash_models.models import Run

from testdash_web import owners
from testdash_web.auth import current_identity, require
from testdash_web.filters import text_arg
from testdash_web.queries import identity, quarantine
from testdash_web.queries.tests import get_test

bp = Blueprint("curation", __name__)
REASON_MAX = 2000


@bp.app_context_processor
def curation_context() -> dict[str, Any]:
    """Helpers the test and run pages call: owners, aliases, mutes."""
    return {
        "owners_of": owners.owners_of,
        "test_aliases": identity.aliases_of,
        "test_mutes": quarantine.for_test,
    }


def _who() -> str:
    found = current_identity()
    return found.name if found else "unknown"


def _date(raw: str | None, name: str) -> datetime | None:
    """A form date (midnight UTC) or date-time; a bad one is a ValueError naming the field."""
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return datetime.combine(datetime.fromisoformat(raw).date(), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be a date such as 2026-01-31") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@bp.post("/tests/<int(signed=True):test_id>/aliases")
@require("admin")
def add(test_id: int) -> ResponseReturnValue:
    """Record that another test was renamed to this one (its history joins this one's)."""
    get_test(test_id)
    form = request.form
    back = redirect(url_for("tests.history", test_id=test_id), 303)
    try:
        raw_id = (form.get("old_id") or "").strip()
        if raw_id:
            old_id = int(raw_id)
        else:
            parts = [
                (form.get(n) or "").strip() for n in ("old_suite", "old_classname", "old_name")
            ]
            if not parts[2]:
                raise ValueError("give the old test's id, or its suite, class and name")
            old_id = test_key(*parts)
        effective = _date((form.get("effective_from") or "").strip(), "effective_from")
        add_alias(db.session(), old_id, test_id, effective or datetime.now(UTC), _who())
    except (ValueError, AliasError) as exc:
        db.session.rollback()
        flash(f"Alias refused: {exc}")
        return back
    db.session.commit()
    flash(f"Test {old_id} is now part of this test's history.")
    return back


@bp.post("/tests/<int(signed=True):test_id>/quarantine")
@require("admin")
def mute(test_id: int) -> ResponseReturnValue:
    """Mute the test on a server and branch (blank: all), with a reason and an expiry."""
    get_test(test_id)
    form = request.form
    back = redirect(url_for("tests.history", test_id=test_id), 303)
    reason = (form.get("reason") or "").strip()
    try:
        if not reason or len(reason) > REASON_MAX:
            raise ValueError(f"a reason of 1 to {REASON_MAX} characters is required")
        expires = _date((form.get("expires_at") or "").strip(), "expires_at")
        days = (form.get("days") or "").strip()
        if expires is None and days:
            if not days.isdigit() or not 0 < int(days) <= 3650:
                raise ValueError("days must be a whole number from 1 to 3650")
            expires = datetime.now(UTC) + timedelta(days=int(days))
        quarantine.mute(
            test_id,
            server=(form.get("server") or "").strip() or None,
            branch=(form.get("branch") or "").strip()[:256] or None,
            reason=reason,
            who=_who(),
            expires_at=expires,
        )
    except ValueError as exc:
        db.session.rollback()
        flash(f"Mute refused: {exc}")
        return back
    flash("Muted: its failures are shown apart and never count as new.")
    return back


@bp.post("/quarantine/<int:entry_id>/lift")
@require("admin")
def lift(entry_id: int) -> ResponseReturnValue:
    """End a mute now."""
    entry = quarantine.lift(entry_id, _who())
    if entry is None:
        flash("No such mute.")
        return redirect(url_for("curation.index"), 303)
    flash("Mute lifted.")
    return redirect(url_for("tests.history", test_id=entry.test_case_id), 303)


@bp.get("/quarantine")
def index() -> ResponseReturnValue:
    """Mutes in force, optionally for one server, branch or team."""
    server, branch = text_arg(request.args, "server"), text_arg(request.args, "branch")
    team = text_arg(request.args, "team")
    return render_template(
        "quarantine/index.html",
        entries=quarantine.active(server, branch, team),
        server=server,
        branch=branch,
        team=team,
        teams=owners.teams(),
        branches=sorted(b for b in db.session.scalars(db.select(Run.branch).distinct()) if b),
    )
