"""Failure clusters: failures with one normalised cause grouped across runs and servers."""

from datetime import timedelta

from testdash_engine.fingerprint import fingerprint
from testdash_models import db

from tests.web.readside import NOW, add_run, add_server


def failure(name, message, kind="TimeoutError"):
    return {
        "name": name,
        "status": "failed",
        "message": message,
        "type": kind,
        "fingerprint": fingerprint(kind, message),
    }


def seed_clusters():
    """The same timeout (different ports and times) on two servers, and one other failure."""
    rows = []
    for s, server in enumerate(("linux", "mac")):
        sid = add_server(server)
        for r in range(3):
            cases = [
                failure(f"test_{r}", f"connect to 10.0.0.{r}:{5000 + s} timed out after {r}s"),
                {"name": "ok", "status": "passed"},
            ]
            if server == "mac" and r == 2:
                cases.append(failure("test_parse", "bad token at line 7", "SyntaxError"))
            rows.append(add_run(sid, f"{server}-{r}", NOW - timedelta(days=r), cases))
    db.session.commit()
    return rows


def test_clusters_group_failures_across_runs_and_servers(browse):
    seed_clusters()
    items = browse.get("/api/v1/clusters").get_json()["items"]
    top, other = items
    assert (top["failures"], top["tests"], top["servers"], top["runs"]) == (6, 3, 2, 6)
    assert top["type"] == "TimeoutError" and other["type"] == "SyntaxError"
    assert top["first_seen"] < top["last_seen"]
    page = browse.get("/clusters").get_data(as_text=True)
    assert f'href="/clusters/{top["fingerprint"]}"' in page and "SyntaxError" in page


def test_clusters_filter_by_server_and_days_and_page(browse):
    seed_clusters()
    assert len(browse.get("/api/v1/clusters?server=linux").get_json()["items"]) == 1
    first = browse.get("/api/v1/clusters?limit=1").get_json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = browse.get(f"/api/v1/clusters?limit=1&cursor={first['next_cursor']}").get_json()
    assert second["items"][0]["type"] == "SyntaxError" and second["next_cursor"] is None
    recent = browse.get("/api/v1/clusters?days=2").get_json()["items"]
    assert recent[0]["failures"] == 4, "runs older than two days left out"
    assert browse.get("/clusters?days=0").status_code == 400


def test_a_cluster_links_to_its_failures_page_by_page(browse):
    seed_clusters()
    top = browse.get("/api/v1/clusters").get_json()["items"][0]
    body = browse.get(f"/api/v1/clusters/{top['fingerprint']}?limit=4").get_json()
    assert body["cluster"]["failures"] == 6 and len(body["failures"]["items"]) == 4
    cursor = body["failures"]["next_cursor"]
    rest = browse.get(f"/api/v1/clusters/{top['fingerprint']}?limit=4&cursor={cursor}").get_json()
    assert len(rest["failures"]["items"]) == 2
    page = browse.get(f"/clusters/{top['fingerprint']}").get_data(as_text=True)
    assert "timed out" in page and 'rel="next"' not in page
    assert browse.get("/clusters/12345").status_code == 404
