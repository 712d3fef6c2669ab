"""Security headers on every response: a CSP that allows no inline script, no framing."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    """Add the headers unless a view set its own; ``CONTENT_SECURITY_POLICY`` overrides the CSP."""

    @app.after_request
    def security_headers(response: Response) -> Response:
        csp = current_app.config.get("CONTENT_SECURITY_POLICY") or CSP
        response.headers.setdefault("Content-Security-Policy", csp)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
