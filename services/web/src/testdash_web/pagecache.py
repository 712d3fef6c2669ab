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

A kept answer carries an ``Age`` header. The cache is bounded by ``PAGE_CACHE_MAX_MB``
(default 32) of bodies per process, oldest first out. It is checked after the request
metrics have started and before sign-in, so kept answers are still counted and still get the
security headers, and serving one costs no session or token lookup.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request, session
from flask.typing import ResponseReturnValue
from testdash_models.config import env_int

NEVER = frozenset({"health.healthz", "health.readyz", "static", "api.quarantine_list"})
NEVER_BLUEPRINTS = frozenset({"auth", "cluster", "curation", "downloads", "uploads"})
# Headers computed again on every answer (security headers, metrics) or meaningless when kept.
DROPPED = frozenset({"set-cookie", "date", "content-length"})


@dataclass(frozen=True, slots=True)
class Kept:
    """One kept answer."""

    at: float
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


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


def init_app(app: Flask) -> None:
    """Read the settings and hook the cache in; call it after metrics and before auth.

    A kept answer is then timed and counted, and served without identifying a reader who
    sent no credential (``_eligible``).
    """
    default = 0 if (app.debug or app.testing) else 5
    seconds = _setting(app, "PAGE_CACHE_SECONDS", default)
    max_mb = _setting(app, "PAGE_CACHE_MAX_MB", 32)
    if seconds <= 0 or max_mb <= 0:
        return
    app.extensions["testdash_pagecache"] = PageCache(seconds, max_mb * 1024 * 1024)
    app.before_request(_lookup)
    app.after_request(_keep)


def _setting(app: Flask, name: str, default: int) -> int:
    """NAME from the app's config, else the environment, else DEFAULT (kept in the config)."""
    if name not in app.config:
        app.config[name] = env_int(name, default)
    value: int = app.config[name]
    return value


def _cache() -> PageCache:
    found: PageCache = current_app.extensions["testdash_pagecache"]
    return found


def _eligible() -> bool:
    """Anonymous by what it sends: no credential of any kind (so sign-in need not run first)."""
    if request.method not in ("GET", "HEAD"):
        return False
    config = current_app.config
    if config["READ_REQUIRES_AUTH"]:
        return False
    environ = request.environ
    if "HTTP_AUTHORIZATION" in environ or config["SESSION_COOKIE_NAME"] in request.cookies:
        return False
    if config["PROXY_USER_HEADER"] in request.headers:
        return False
    return request.endpoint not in NEVER and request.blueprint not in NEVER_BLUEPRINTS


def _key() -> str:
    """Method, host, path and query as sent (cheaper than rebuilding ``request.url``)."""
    environ = request.environ
    return (
        f"{request.method} {request.scheme}://{request.host}{request.script_root}"
        f"{environ.get('PATH_INFO', '')}?{environ.get('QUERY_STRING', '')}"
    )


def _lookup() -> ResponseReturnValue | None:
    if not _eligible():
        return None
    now = time.monotonic()
    key = _key()
    kept = _cache().get(key, now)
    if kept is None:
        g.page_cache_key = key
        return None
    response = Response(kept.body, status=kept.status, headers=list(kept.headers))
    response.headers["Age"] = str(int(now - kept.at))
    g.page_cache_hit = True
    return response


def _keep(response: Response) -> Response:
    key = g.pop("page_cache_key", None)
    if key is None or g.get("page_cache_hit"):
        return response
    if response.status_code != 200 or response.is_streamed or response.direct_passthrough:
        return response
    if "Set-Cookie" in response.headers or response.cache_control.no_store or session.modified:
        return response  # session.modified: a cookie (a CSRF token, say) is about to be set
    headers = tuple((k, v) for k, v in response.headers.items() if k.lower() not in DROPPED)
    _cache().put(key, Kept(time.monotonic(), response.status_code, headers, response.get_data()))
    return response
