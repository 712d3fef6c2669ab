"""Access: tokens from the CLI, scopes, sign-in and out, CSRF, the trusted proxy, rate limits."""

from __future__ import annotations

import hashlib

import pytest
from testdash_models import db
from testdash_models.models import ApiToken

from tests.web.writeside import bearer, csrf_from, make_token, sign_in


@pytest.fixture
def database_url(sqlite_url):
    """Access logic is backend-independent: SQLite keeps these fast (uploads run on both)."""
    return sqlite_url


def test_tokens_cli_creates_lists_and_revokes_and_stores_only_a_hash(web):
    secret = make_token(web, "ci", "upload")
    runner = web.test_cli_runner()
    with web.app_context():
        token = db.session.query(ApiToken).one()
        assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (token.token_hash, token.prefix) and secret.startswith(token.prefix)
        assert token.scopes == "upload" and token.last_used_at is None
    listing = runner.invoke(args=["tokens", "list"]).output
    assert "ci" in listing and "upload" in listing and "active" in listing and secret not in listing
    again = runner.invoke(args=["tokens", "create", "ci", "--scope", "admin"])
    assert again.exit_code == 2 and "exists" in again.output
    bad_scope = runner.invoke(args=["tokens", "create", "x", "--scope", "root"])
    assert bad_scope.exit_code == 2
    assert runner.invoke(args=["tokens", "revoke", "ci"]).exit_code == 0
    assert "revoked" in runner.invoke(args=["tokens", "list"]).output
    assert runner.invoke(args=["tokens", "revoke", "nobody"]).exit_code == 2


def test_scopes_decide_what_a_token_may_do(web, client):
    upload = make_token(web, "ci", "upload")
    admin = make_token(web, "ops", "admin")
    # An upload token reaches the upload endpoint (400: no files) but not Run now.
    assert client.post("/api/v1/uploads", headers=bearer(upload)).status_code == 400
    refused = client.post("/api/v1/cronjobs/x/run", headers=bearer(upload))
    assert refused.status_code == 403 and refused.json["error"] == "forbidden"
    # Admin may do both; outside a cluster Run now answers why it cannot.
    assert client.post("/api/v1/uploads", headers=bearer(admin)).status_code == 400
    no_cluster = client.post("/api/v1/cronjobs/x/run", headers=bearer(admin))
    assert no_cluster.status_code == 409 and "Kubernetes" in no_cluster.json["message"]
    with web.app_context():
        assert db.session.query(ApiToken).filter_by(name="ci").one().last_used_at is not None


def test_anonymous_writes_are_refused_with_a_bearer_challenge(client):
    response = client.post("/api/v1/uploads")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_and_unknown_tokens_are_refused(web, client):
    secret = make_token(web, "ci", "upload")
    assert client.post("/api/v1/uploads", headers=bearer(secret)).status_code == 400
    web.test_cli_runner().invoke(args=["tokens", "revoke", "ci"])
    response = client.post("/api/v1/uploads", headers=bearer(secret))
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    forged = client.post("/api/v1/uploads", headers=bearer("tdp_" + "A" * 43))
    assert forged.status_code == 401


def test_sign_in_with_an_admin_token_then_sign_out(web, client):
    secret = make_token(web, "ops", "admin")
    assert 'enctype="multipart/form-data"' not in client.get("/uploads").get_data(as_text=True)
    sign_in(client, secret)
    page = client.get("/uploads").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and "ops" in page
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"
    response = client.post("/signout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert 'enctype="multipart/form-data"' not in client.get("/uploads").get_data(as_text=True)


def test_sign_in_refuses_upload_only_tokens_and_revocation_ends_the_session(web, client):
    upload = make_token(web, "ci", "upload")
    page = client.get("/signin").get_data(as_text=True)
    refused = client.post("/signin", data={"token": upload, "csrf_token": csrf_from(page)})
    assert refused.status_code == 401 and "admin scope" in refused.get_data(as_text=True)
    admin = make_token(web, "ops", "admin")
    sign_in(client, admin)
    assert 'enctype="multipart/form-data"' in client.get("/uploads").get_data(as_text=True)
    web.test_cli_runner().invoke(args=["tokens", "revoke", "ops"])
    assert 'enctype="multipart/form-data"' not in client.get("/uploads").get_data(as_text=True)


def test_secure_cookie_is_configurable(make_web):
    app = make_web(SESSION_COOKIE_SECURE=True)
    secret = make_token(app, "ops", "admin")
    client = app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    response = client.post("/signin", data={"token": secret, "csrf_token": csrf_from(page)})
    cookie_header = response.headers["Set-Cookie"]
    assert (
        "Secure" in cookie_header
        and "HttpOnly" in cookie_header
        and "SameSite=Lax" in cookie_header
    )


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(web, client, target):
    secret = make_token(web, "ops", "admin")
    page = client.get("/signin").get_data(as_text=True)
    response = client.post(
        "/signin", data={"token": secret, "csrf_token": csrf_from(page), "next": target}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_forms_without_the_csrf_token_are_refused(web, client):
    secret = make_token(web, "ops", "admin")
    assert client.post("/signin", data={"token": secret}).status_code == 400
    sign_in(client, secret)
    assert client.post("/signout").status_code == 400
    assert client.post("/signout", data={"csrf_token": "forged"}).status_code == 400
    upload = client.post("/uploads", data={"server": "s", "run_dir": "r"})
    assert upload.status_code == 400
    # The session is still there: the refused sign-out did nothing.
    assert 'enctype="multipart/form-data"' in client.get("/uploads").get_data(as_text=True)


def test_proxy_user_is_honoured_only_from_an_allow_listed_address(make_web):
    app = make_web(TRUSTED_PROXIES="10.0.0.0/8, fd00::/8")
    client = app.test_client()
    admin = {"X-Forwarded-User": "alice", "X-Forwarded-Groups": "qa,testdash-admins"}
    trusted = client.get("/uploads", headers=admin, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    page = trusted.get_data(as_text=True)
    assert "alice" in page and 'enctype="multipart/form-data"' in page
    spoofed = client.get("/uploads", headers=admin, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert "alice" not in spoofed.get_data(as_text=True)
    reader = {"X-Forwarded-User": "bob", "X-Forwarded-Groups": "qa"}
    page = client.get("/uploads", headers=reader, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    html = page.get_data(as_text=True)
    assert "bob" in html and 'enctype="multipart/form-data"' not in html
    forbidden = client.post(
        "/uploads",
        data={"csrf_token": csrf_from(client.get("/signin").get_data(as_text=True))},
        headers=reader,
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert forbidden.status_code == 403


def test_proxy_check_uses_the_tcp_peer_not_x_forwarded_for(make_web):
    app = make_web(TRUSTED_PROXIES="10.0.0.0/8", PROXY_FIX_X_FOR=1)
    client = app.test_client()
    response = client.get(
        "/uploads",
        headers={
            "X-Forwarded-User": "mallory",
            "X-Forwarded-For": "10.0.0.5",
            "X-Forwarded-Groups": "testdash-admins",
        },
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert "mallory" not in response.get_data(as_text=True)


def test_failed_sign_ins_are_rate_limited_per_client(make_web):
    app = make_web(SIGNIN_MAX_FAILURES=3)
    secret = make_token(app, "ops", "admin")
    client = app.test_client()
    csrf = csrf_from(client.get("/signin").get_data(as_text=True))
    for _ in range(3):
        assert (
            client.post("/signin", data={"token": "tdp_wrong", "csrf_token": csrf}).status_code
            == 401
        )
    blocked = client.post("/signin", data={"token": secret, "csrf_token": csrf})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    other = client.post(
        "/signin",
        data={"token": secret, "csrf_token": csrf},
        environ_base={"REMOTE_ADDR": "192.0.2.1"},
    )
    assert other.status_code == 302, "another address is not blocked"


def test_read_requires_auth_closes_pages_and_api(make_web):
    app = make_web(READ_REQUIRES_AUTH=True)
    secret = make_token(app, "ci", "upload")
    client = app.test_client()
    page = client.get("/uploads")
    assert page.status_code == 302 and page.headers["Location"].startswith("/signin?next=/uploads")
    api = client.get("/api/v1/uploads/1")
    assert api.status_code == 401 and "WWW-Authenticate" in api.headers
    assert client.get("/healthz").status_code == 200
    assert client.get("/signin").status_code == 200
    assert client.get("/api/v1/uploads/1", headers=bearer(secret)).status_code == 404


def test_reading_is_open_by_default(client):
    assert client.get("/uploads").status_code == 200
    assert client.get("/api/v1/uploads/1").status_code == 404


def test_pages_carry_security_headers(client):
    response = client.get("/signin")
    csp = response.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert "<script>" not in response.get_data(as_text=True)
