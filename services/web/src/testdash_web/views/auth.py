"""Browser sign-in with an admin token, and sign-out."""

from __future__ import annotations

import math

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from testdash_models import db

from testdash_web.auth import current_identity, state
from testdash_web.tokens import find_token

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative tricks."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return url_for("overview.index")
    return target


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> ResponseReturnValue:
    """Sign in with an admin token; failures are rate limited per client address."""
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("auth/signin.html", next=target, error=None)
    limiter = state().signin_failures
    client = request.remote_addr or "unknown"
    wait = limiter.retry_after(client)
    if wait:
        message = f"Too many failed sign-ins; try again in {math.ceil(wait)} s."
        page = render_template("auth/signin.html", next=target, error=message)
        return page, 429, {"Retry-After": str(math.ceil(wait))}
    token = find_token(db.session(), request.form.get("token", "").strip())
    if token is None or "admin" not in token.scope_set:
        limiter.hit(client)
        message = "That token is unknown, revoked, or has no admin scope."
        return render_template("auth/signin.html", next=target, error=message), 401
    # A fresh session (and CSRF token) at sign-in: nothing planted before it survives.
    session.clear()
    session.permanent = True
    session["token_id"] = token.id
    flash(f"Signed in as {token.name}.")
    return redirect(target)


@bp.post("/signout")
def signout() -> ResponseReturnValue:
    """End the browser session (a proxy sign-in ends at the proxy)."""
    identity = current_identity()
    session.clear()
    if identity is not None and identity.via == "proxy":
        flash("You are signed in through the proxy; sign out there.")
    return redirect(url_for("overview.index"))
