"""The web's own settings, read from the environment when the app is made, and ProxyFix."""

from __future__ import annotations

from flask import Flask
from testdash_models.config import env_int
from werkzeug.middleware.proxy_fix import ProxyFix

# How many proxies in front of gunicorn set each X-Forwarded-* header (0: trust none).
PROXY_FIX = ("PROXY_FIX_X_FOR", "PROXY_FIX_X_PROTO", "PROXY_FIX_X_HOST", "PROXY_FIX_X_PORT")
DEFAULTS = {name: 0 for name in (*PROXY_FIX, "PROXY_FIX_X_PREFIX")} | {"INGEST_STALE_HOURS": 24}


def init_app(app: Flask) -> None:
    """Fill unset settings from the environment and wrap the app in ProxyFix when asked."""
    for name, default in DEFAULTS.items():
        setting(app, name, default)
    hops = {name: app.config[name] for name in (*PROXY_FIX, "PROXY_FIX_X_PREFIX")}
    if any(hops.values()):
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=hops["PROXY_FIX_X_FOR"],
            x_proto=hops["PROXY_FIX_X_PROTO"],
            x_host=hops["PROXY_FIX_X_HOST"],
            x_port=hops["PROXY_FIX_X_PORT"],
            x_prefix=hops["PROXY_FIX_X_PREFIX"],
        )


def setting(app: Flask, name: str, default: int) -> int:
    """NAME from the app's config, else the environment, else DEFAULT (kept in the config)."""
    if name not in app.config:
        app.config[name] = env_int(name, default)
    value: int = app.config[name]
    return value
