"""A few seconds' cache of anonymous page and API answers, per worker process (micro-caching).

A dashboard is read by many people at once and changes when an engine run commits, every
few minutes. Under load the same overview, run list or run page is computed again for every
reader; keeping each answer for ``PAGE_CACHE_SECONDS`` (default 5 in production, 0 — off —
in development and testing) serves the repeats without touching the database.

Only what is the same for every anonymous reader is kept:

- GET and HEAD without credentials: no ``Authorization`` header, no cookie of ours (a
  signed-in browser sees admin controls and a CSRF token), no trusted-proxy user header;
- not when ``READ_REQUIRES_AUTH`` is on;
- 200 answers with a body in memory, no ``Set-Cookie`` and no session written;
- not health and readiness, static files (the browser caches those), sign-in, the
  quarantine (CI asks it which tests to skip), uploads and an upload's state (CI polls it),
  downloads of stored files, the cluster's "run now".

Answers are kept by Flask (``_keep``, after the security headers are set) and served by a
WSGI middleware in front of Flask (``Front``, behind ProxyFix), the way a reverse proxy's
micro-cache would: a repeat costs a dictionary lookup, not a request context, a session and
the hooks. The middleware counts what it serves in the request metrics under the kept
answer's route and adds an ``Age`` header. The cache is bounded by ``PAGE_CACHE_MAX_MB``
(default 32) of bodies per process, oldest first out.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, g, request, session
from werkzeug.http import HTTP_STATUS_CODES, parse_cookie

from testdash_web import metrics
from testdash_web.settings import setting

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

NEVER = frozenset({"health.healthz", "health.readyz", "static", "api.quarantine_list"})
NEVER_BLUEPRINTS = frozenset({"auth", "cluster", "curation", "downloads", "uploads"})
KEY = "testdash.page_cache_key"  # the WSGI environ's key set by Front for an anonymous GET/HEAD
# Headers computed again on every answer (security headers, metrics) or meaningless when kept.
DROPPED = frozenset({"set-cookie", "date", "content-length"})


@dataclass(frozen=True, slots=True)
class Kept:
    """One kept answer; ROUTE is its URL rule, the label it is counted under when served."""

    at: float
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    route: str = metrics.UNMATCHED


class PageCache:
    """Answers by method and URL, each for SECONDS, at most MAX_BYTES of bodies."""

    def __init__(self, seconds: int, max_bytes: int) -> None:
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.size = 0
        self.entries: OrderedDict[str, Kept] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str, now: float) -> Kept | None:
        """The answer kept for KEY, unless it is older than the cache's seconds."""
        with self.lock:
            kept = self.entries.get(key)
            if kept is None:
                return None
            if now - kept.at >= self.seconds:
                self._drop(key)
                return None
            return kept

    def put(self, key: str, kept: Kept) -> None:
        """Keep KEPT, dropping the oldest answers past the size bound."""
        if len(kept.body) > self.max_bytes // 4:
            return  # one huge page would push out everything else
        with self.lock:
            if key in self.entries:
                self._drop(key)
            self.entries[key] = kept
            self.size += len(kept.body)
            while self.size > self.max_bytes and self.entries:
                self._drop(next(iter(self.entries)))

    def _drop(self, key: str) -> None:
        self.size -= len(self.entries.pop(key).body)


class Front:
    """WSGI middleware serving kept answers to anonymous readers before Flask sees them.

    Only answers Flask chose to keep are in the cache, so every key found belongs to an
    endpoint that may be kept; what is left to check is who asks (``anonymous``).
    """

    def __init__(self, wsgi_app: WSGIApplication, cache: PageCache, config: Mapping[str, Any]):
        self.wsgi_app = wsgi_app
        self.cache = cache
        self.config = config

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The kept answer to an anonymous GET or HEAD, else whatever Flask answers."""
        method = environ.get("REQUEST_METHOD", "GET")
        if method in ("GET", "HEAD") and anonymous(environ, self.config):
            started = time.perf_counter()
            now = time.monotonic()
            kept_key = environ[KEY] = key(environ)  # on a miss, for Flask to keep the answer
            kept = self.cache.get(kept_key, now)
            if kept is not None:
                headers = [
                    *kept.headers,
                    ("Content-Length", str(len(kept.body))),
                    ("Age", str(int(now - kept.at))),
                ]
                start_response(f"{kept.status} {HTTP_STATUS_CODES.get(kept.status, '')}", headers)
                metrics.count(kept.route, method, kept.status, time.perf_counter() - started)
                return [b""] if method == "HEAD" else [kept.body]
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask) -> None:
    """Read the settings, keep answers from Flask and serve them from ``Front``.

    Call it before ProxyFix wraps the app (``settings.init_app``), so keys are made of the
    scheme and host the client used, and before the security headers' hook is registered,
    so a kept answer carries them (after-request hooks run last registered first).
    """
    default = 0 if (app.debug or app.testing) else 5
    seconds = setting(app, "PAGE_CACHE_SECONDS", default)
    max_mb = setting(app, "PAGE_CACHE_MAX_MB", 32)
    if seconds <= 0 or max_mb <= 0:
        return
    cache = PageCache(seconds, max_mb * 1024 * 1024)
    app.extensions["testdash_pagecache"] = cache
    app.wsgi_app = Front(app.wsgi_app, cache, app.config)  # type: ignore[method-assign]
    app.before_request(_mark)
    app.after_request(_keep)


def _cache() -> PageCache:
    found: PageCache = current_app.extensions["testdash_pagecache"]
    return found


def anonymous(environ: WSGIEnvironment, config: Mapping[str, Any]) -> bool:
    """No credential of any kind in the request (so sign-in need not run to know the reader)."""
    if config["READ_REQUIRES_AUTH"] or "HTTP_AUTHORIZATION" in environ:
        return False
    proxy_header = config["PROXY_USER_HEADER"].upper().replace("-", "_")
    if f"HTTP_{proxy_header}" in environ:
        return False
    cookies = environ.get("HTTP_COOKIE")
    return not cookies or config["SESSION_COOKIE_NAME"] not in parse_cookie(cookies)


def key(environ: WSGIEnvironment) -> str:
    """Method, scheme, host, path and query as sent (cheaper than rebuilding ``request.url``)."""
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return (
        f"{environ.get('REQUEST_METHOD', 'GET')} {environ['wsgi.url_scheme']}://{host}"
        f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}"
        f"?{environ.get('QUERY_STRING', '')}"
    )


def _mark() -> None:
    """Note the key of an anonymous answer ``Front`` did not have, when it may be kept."""
    kept_key = request.environ.get(KEY)
    if kept_key is None or request.endpoint in NEVER or request.blueprint in NEVER_BLUEPRINTS:
        return
    g.page_cache_key = kept_key


def _keep(response: Response) -> Response:
    kept_key = g.pop("page_cache_key", None)
    if kept_key is None:
        return response
    if response.status_code != 200 or response.is_streamed or response.direct_passthrough:
        return response
    if "Set-Cookie" in response.headers or response.cache_control.no_store or session.modified:
        return response  # session.modified: a cookie (a CSRF token, say) is about to be set
    headers = tuple((k, v) for k, v in response.headers.items() if k.lower() not in DROPPED)
    route = request.url_rule.rule if request.url_rule is not None else metrics.UNMATCHED
    kept = Kept(time.monotonic(), response.status_code, headers, response.get_data(), route)
    _cache().put(kept_key, kept)
    return response
