import pytest
from testdash_engine.cli import main
from testdash_web import create_app


@pytest.fixture
def client(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": database_url})
    return app.test_client()


def test_healthz_never_touches_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path))
    app = create_app(
        "testing", overrides={"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://x@127.0.0.1:1/none"}
    )
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["status"] == "unavailable"


def test_readyz_is_ready_on_a_reachable_database(client):
    assert client.get("/readyz").json == {"status": "ready"}


def test_readyz_is_unavailable_until_migrations_reach_head(client, app):
    from flask_migrate import downgrade, upgrade

    downgrade(revision="0001")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "0001" in response.json["reason"]
    upgrade()
    assert client.get("/readyz").status_code == 200


def test_overview_lists_servers_and_runs_the_engine_stored(client, app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["demo", "--root", str(tmp_path / "demo"), "--runs", "2"])
    assert result.exit_code == 0, result.output
    page = client.get("/").get_data(as_text=True)
    for server in ("build-linux", "build-windows", "qa-lab"):
        assert server in page
    assert "1 rejected file</a>" in page
