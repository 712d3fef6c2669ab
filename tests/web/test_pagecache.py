"""The few seconds' cache of anonymous answers: what it keeps, for whom, how long, how much."""

from __future__ import annotations

import pytest
from flask import request, session
from prometheus_client import REGISTRY
from testdash_models import db
from testdash_models.config import ConfigError
from testdash_web import pagecache
from testdash_web.pagecache import Kept, PageCache

from tests.web.readside import add_server
from tests.web.writeside import bearer, make_token, sign_in


class Clock:
    """pagecache's time.monotonic, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(pagecache.time, "monotonic", fake.monotonic)
    return fake


def add(web, name: str) -> None:
    with web.app_context():
        add_server(name)
        db.session.commit()


def names(response) -> list[str]:
    assert response.status_code == 200
    return sorted(item["name"] for item in response.get_json()["items"])


def test_anonymous_answers_are_kept_for_the_configured_seconds(make_web, clock):
    web = make_web(PAGE_CACHE_SECONDS=5)
    client = web.test_client()
    add(web, "alpha")
    assert names(client.get("/api/v1/servers")) == ["alpha"]
    add(web, "beta")
    clock.now += 4
    kept = client.get("/api/v1/servers")
    assert names(kept) == ["alpha"], "a repeat within 5 s is the kept answer"
    assert kept.headers["Age"] == "4"
    assert kept.headers["Content-Security-Policy"], "security headers are set on kept answers"
    assert names(client.get("/api/v1/servers?limit=50")) == ["alpha", "beta"], "per URL"
    clock.now += 1
    fresh = client.get("/api/v1/servers")
    assert names(fresh) == ["alpha", "beta"], "after 5 s the page is computed again"
    assert "Age" not in fresh.headers


def test_pages_are_kept_too(make_web, clock):
    web = make_web(PAGE_CACHE_SECONDS=5)
    client = web.test_client()
    add(web, "alpha")
    assert "alpha" in client.get("/").get_data(as_text=True)
    add(web, "gamma-server")
    assert "gamma-server" not in client.get("/").get_data(as_text=True)
    clock.now += 5
    assert "gamma-server" in client.get("/").get_data(as_text=True)


def test_off_in_testing_and_development_by_default(make_web, clock):
    web = make_web()
    assert "testdash_pagecache" not in web.extensions
    client = web.test_client()
    add(web, "alpha")
    assert names(client.get("/api/v1/servers")) == ["alpha"]
    add(web, "beta")
    assert names(client.get("/api/v1/servers")) == ["alpha", "beta"]


def test_readers_with_credentials_always_get_fresh_answers(make_web, clock):
    web = make_web(PAGE_CACHE_SECONDS=60)
    secret = make_token(web, "ci", "admin")
    client = web.test_client()
    add(web, "alpha")
    assert names(client.get("/api/v1/servers")) == ["alpha"]
    add(web, "beta")
    assert names(client.get("/api/v1/servers", headers=bearer(secret))) == ["alpha", "beta"]
    signed_in = web.test_client()
    sign_in(signed_in, secret)
    assert names(signed_in.get("/api/v1/servers")) == ["alpha", "beta"]
    proxied = client.get("/api/v1/servers", headers={"X-Forwarded-User": "ann"})
    assert names(proxied) == ["alpha", "beta"]
    assert names(client.get("/api/v1/servers")) == ["alpha"], "anonymous still kept"


def test_not_kept_when_reading_requires_sign_in(make_web, clock):
    web = make_web(PAGE_CACHE_SECONDS=60, READ_REQUIRES_AUTH=True)
    secret = make_token(web, "reader", "admin")
    client = web.test_client()
    add(web, "alpha")
    assert names(client.get("/api/v1/servers", headers=bearer(secret))) == ["alpha"]
    add(web, "beta")
    assert names(client.get("/api/v1/servers", headers=bearer(secret))) == ["alpha", "beta"]
    assert client.get("/api/v1/servers").status_code == 401


def test_errors_health_and_ci_facing_answers_are_never_kept(make_web, clock):
    web = make_web(PAGE_CACHE_SECONDS=60)
    client = web.test_client()
    assert client.get("/api/v1/runs/424242").status_code == 404
    cache = web.extensions["testdash_pagecache"]
    for path in ("/healthz", "/readyz", "/api/v1/quarantine", "/signin", "/quarantine"):
        client.get(path)
    assert cache.entries == {}, "no 404, health, quarantine, sign-in or curation page kept"
    client.get("/api/v1/servers")
    assert cache.entries == {}, "the sign-in page gave this browser a session cookie"
    web.test_client().get("/api/v1/servers")
    assert list(cache.entries) == ["GET http://localhost/api/v1/servers?"]


def test_bounded_by_size_oldest_out():
    cache = PageCache(seconds=60, max_bytes=1000)
    for n in range(5):
        cache.put(f"k{n}", Kept(0.0, 200, (), b"x" * 240))
    assert list(cache.entries) == ["k1", "k2", "k3", "k4"]
    assert cache.size == 960
    cache.put("huge", Kept(0.0, 200, (), b"x" * 251))
    assert "huge" not in cache.entries, "one answer over a quarter of the bound is not kept"
    cache.put("k2", Kept(0.0, 200, (), b"y" * 10))
    assert list(cache.entries)[-1] == "k2" and cache.size == 730
    assert cache.get("k2", 59.9) is not None
    assert cache.get("k2", 60.0) is None and "k2" not in cache.entries


def test_a_bad_setting_fails_clearly(make_web, monkeypatch):
    monkeypatch.setenv("PAGE_CACHE_SECONDS", "soon")
    with pytest.raises(ConfigError, match="PAGE_CACHE_SECONDS must be a whole number"):
        make_web()


def test_an_answer_that_starts_a_session_is_not_kept(make_web, clock):
    web = make_web(PAGE_CACHE_SECONDS=60)

    def touch():
        session["csrf_token"] = "for this browser only"
        return "a form"

    web.add_url_rule("/touch", view_func=touch)
    assert "Set-Cookie" in web.test_client().get("/touch").headers
    assert web.extensions["testdash_pagecache"].entries == {}


def test_repeats_are_served_in_front_of_flask_and_still_counted(make_web, clock):
    web = make_web(PAGE_CACHE_SECONDS=60)
    entered: list[str] = []
    web.before_request(lambda: entered.append(request.path) and None)
    client = web.test_client()
    add(web, "alpha")

    def answered(method: str) -> float:
        labels = {"route": "/api/v1/servers", "method": method, "status": "200"}
        return REGISTRY.get_sample_value("testdash_http_requests_total", labels) or 0.0

    before = answered("GET"), answered("HEAD")
    first = client.get("/api/v1/servers")
    clock.now += 2
    again = client.get("/api/v1/servers")
    assert entered == ["/api/v1/servers"], "the repeat never reached Flask"
    assert again.get_data() == first.get_data()
    assert again.headers["Content-Length"] == str(len(first.get_data()))
    assert again.headers["Age"] == "2"
    assert again.headers["X-Frame-Options"] == "DENY"
    head = client.head("/api/v1/servers")
    client.head("/api/v1/servers")
    assert head.get_data() == b"" and entered == ["/api/v1/servers"] * 2
    assert head.headers["Content-Length"] == str(len(first.get_data()))
    assert (answered("GET") - before[0], answered("HEAD") - before[1]) == (2, 2)


def test_only_our_session_cookie_makes_a_reader_known(make_web, clock):
    web = make_web(PAGE_CACHE_SECONDS=60)
    client = web.test_client(use_cookies=False)  # the Cookie headers below as sent
    add(web, "alpha")
    assert names(client.get("/api/v1/servers")) == ["alpha"]
    add(web, "beta")
    other = {"Cookie": "theme=dark; _ga=GA1.2.3"}
    assert names(client.get("/api/v1/servers", headers=other)) == ["alpha"]
    ours = {"Cookie": f"theme=dark; {web.config['SESSION_COOKIE_NAME']}=anything"}
    assert names(client.get("/api/v1/servers", headers=ours)) == ["alpha", "beta"]


def test_behind_proxyfix_each_forwarded_host_and_scheme_has_its_own_answer(make_web, clock):
    web = make_web(PAGE_CACHE_SECONDS=60, PROXY_FIX_X_PROTO=1, PROXY_FIX_X_HOST=1)
    client = web.test_client()
    for host, proto in (("a.example", "https"), ("b.example", "https"), ("a.example", "http")):
        forwarded = {"X-Forwarded-Host": host, "X-Forwarded-Proto": proto}
        assert client.get("/api/v1/servers", headers=forwarded).status_code == 200
    assert sorted(web.extensions["testdash_pagecache"].entries) == [
        "GET http://a.example/api/v1/servers?",
        "GET https://a.example/api/v1/servers?",
        "GET https://b.example/api/v1/servers?",
    ]
