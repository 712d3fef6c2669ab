"""Who is asking, and may they: tokens, sessions, a trusted proxy, CSRF, rate limits.

A request is identified, in this order, by an ``Authorization: Bearer`` token, by a
trusted reverse proxy's user header, or by the browser session made at sign-in.
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, jsonify, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from testdash_models import db
from testdash_models.config import ConfigError
from testdash_models.models import ApiToken

from testdash_web.tokens import find_token, tokens

F = TypeVar("F", bound=Callable[..., Any])
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Reachable without sign-in even when READ_REQUIRES_AUTH is on.
OPEN_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "auth.signin", "static"})


@dataclass(frozen=True, slots=True)
class Identity:
    """A signed-in user or a token holder."""

    name: str
    scopes: frozenset[str]
    via: str  # "token", "session" or "proxy"
    token_id: int | None = None

    def can(self, scope: str) -> bool:
        """Admin may do everything; otherwise the scope must be granted."""
        return "admin" in self.scopes or scope in self.scopes


class RateLimiter:
    """At most LIMIT events per WINDOW seconds per key, counted in this process only."""

    def __init__(self, limit: int, window: float, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """Seconds until KEY may act again; 0 when it may now."""
        now = time.monotonic()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                return 0.0
            while events and events[0] <= now - self.window:
                events.popleft()
            return events[0] + self.window - now if len(events) >= self.limit else 0.0

    def hit(self, key: str) -> None:
        """Count one event for KEY; the least recently used keys go first when full."""
        with self._lock:
            self._events.setdefault(key, deque()).append(time.monotonic())
            self._events.move_to_end(key)
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)


@dataclass(slots=True)
class AuthState:
    """What ``init_app`` keeps in ``app.extensions['testdash_auth']``."""

    proxies: list[Network]
    signin_failures: RateLimiter
    uploads: RateLimiter


def init_app(app: Flask) -> None:
    """Identify every request, guard reads and forms, add the ``tokens`` commands.

    Security headers (CSP without inline script) come from ``headers.py``.
    """
    if not app.config.get("SECRET_KEY"):
        raise ConfigError("SECRET_KEY is required: it signs the sign-in session cookie")
    try:
        proxies = [
            ipaddress.ip_network(n.strip(), strict=False)
            for n in app.config["TRUSTED_PROXIES"].split(",")
            if n.strip()
        ]
    except ValueError as exc:
        raise ConfigError(f"TRUSTED_PROXIES: {exc}") from None
    app.extensions["testdash_auth"] = AuthState(
        proxies=proxies,
        signin_failures=RateLimiter(
            app.config["SIGNIN_MAX_FAILURES"], app.config["SIGNIN_WINDOW_SECONDS"]
        ),
        uploads=RateLimiter(app.config["UPLOADS_PER_MINUTE"], 60),
    )
    app.before_request(_identify)
    app.before_request(_guard)
    app.context_processor(lambda: {"identity": current_identity(), "csrf_token": csrf_token})
    app.cli.add_command(tokens)


def state() -> AuthState:
    """This app's auth state."""
    found: AuthState = current_app.extensions["testdash_auth"]
    return found


def current_identity() -> Identity | None:
    """Who is asking, or None for an anonymous reader."""
    found: Identity | None = g.get("identity")
    return found


def is_api() -> bool:
    """JSON answers for the API, pages and redirects for the rest."""
    return request.path.startswith("/api/")


def _identify() -> ResponseReturnValue | None:
    g.identity = None
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = find_token(db.session(), header[7:].strip())
        if token is None:
            return error(401, "invalid_token", "the token is unknown or revoked")
        g.identity = Identity(token.name, token.scope_set, "token", token.id)
        return None
    g.identity = _proxy_identity() or _session_identity()
    return None


def _proxy_identity() -> Identity | None:
    user = request.headers.get(current_app.config["PROXY_USER_HEADER"], "").strip()
    if not user:
        return None
    # The TCP peer, not the client ProxyFix may have put in REMOTE_ADDR.
    orig = request.environ.get("werkzeug.proxy_fix.orig") or {}
    peer = orig.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or ""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return None
    if not any(address in network for network in state().proxies):
        current_app.logger.warning("ignored %s from untrusted %s", "proxy user header", peer)
        return None
    raw = request.headers.get(current_app.config["PROXY_GROUPS_HEADER"], "")
    groups = {group.strip() for group in raw.split(",")}
    admin = current_app.config["PROXY_ADMIN_GROUP"] in groups
    return Identity(user[:256], frozenset({"admin"} if admin else ()), "proxy")


def _session_identity() -> Identity | None:
    token_id = session.get("token_id")
    if token_id is None:
        return None
    token = db.session.get(ApiToken, token_id)
    if token is None or token.revoked_at is not None or "admin" not in token.scope_set:
        session.pop("token_id", None)  # revoked since sign-in: the session ends here
        return None
    return Identity(token.name, token.scope_set, "session", token.id)


def _guard() -> ResponseReturnValue | None:
    identity = current_identity()
    if (
        identity is None
        and current_app.config["READ_REQUIRES_AUTH"]
        and request.endpoint not in OPEN_ENDPOINTS
    ):
        return unauthenticated()
    if request.method not in UNSAFE_METHODS:
        return None
    # A bearer token is not sent by browsers on their own; an anonymous API call gets its 401.
    if (identity is not None and identity.via == "token") or (identity is None and is_api()):
        return None
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf_token")
    if not expected or not secrets.compare_digest(str(expected), sent):
        return error(400, "csrf_failed", "the form expired or did not come from this site")
    return None


def csrf_token() -> str:
    """The session's CSRF token, for a hidden ``csrf_token`` field or an X-CSRF-Token header."""
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    token: str = session["csrf_token"]
    return token


def error(status: int, code: str, message: str, **extra: Any) -> ResponseReturnValue:
    """A JSON error for the API, a plain page elsewhere."""
    if is_api() or request.accept_mimetypes.best == "application/json":
        return jsonify(error=code, message=message, **extra), status
    abort(status, description=message)


def unauthenticated() -> ResponseReturnValue:
    """401 with a Bearer challenge for the API; the sign-in page for a browser."""
    if is_api():
        body, status = jsonify(error="unauthenticated", message="sign in or send a token"), 401
        body.headers["WWW-Authenticate"] = 'Bearer realm="testdash"'
        return body, status
    return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))


def require(scope: str) -> Callable[[F], F]:
    """Let the view run only for an identity holding SCOPE."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            identity = current_identity()
            if identity is None:
                return unauthenticated()
            if not identity.can(scope):
                return error(403, "forbidden", f"this needs the {scope!r} scope")
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
