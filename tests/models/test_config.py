import pytest
from testdash_models import create_base_app
from testdash_models.config import (
    ConfigError,
    DevelopmentConfig,
    ProductionConfig,
    get_config,
    normalise_database_url,
)

POSTGRES_ENV = {
    "POSTGRES_USER": "td",
    "POSTGRES_PASS": "p@ss:word/x",
    "POSTGRES_DB_NAME": "testdash",
    "POSTGRES_HOST": "db.internal",
}


def test_unknown_config_name_lists_the_valid_ones():
    with pytest.raises(ConfigError) as excinfo:
        get_config("staging")
    message = str(excinfo.value)
    assert "'staging'" in message
    for name in ("development", "testing", "production"):
        assert name in message


def test_flask_config_selects_the_class(monkeypatch, tmp_path):
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("FLASK_CONFIG", "development")
    app = create_base_app()
    assert app.config["CONFIG_NAME"] == "dev"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/data-dev.sqlite"
    monkeypatch.setenv("FLASK_CONFIG", "testing")
    assert create_base_app().config["TESTING"] is True


def test_explicit_name_overrides_flask_config(monkeypatch, tmp_path):
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLASK_CONFIG", "production")
    app = create_base_app("development")
    assert app.config["CONFIG_NAME"] == "dev"


def test_database_url_wins_in_every_config(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h:5433/d")
    for cls in (DevelopmentConfig, ProductionConfig):
        settings = cls.resolve(str(tmp_path))
        assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg2://u:p@h:5433/d"


def test_postgres_scheme_is_normalised():
    assert normalise_database_url("postgres://a@b/c") == "postgresql+psycopg2://a@b/c"
    assert normalise_database_url("postgresql://a@b/c") == "postgresql+psycopg2://a@b/c"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert normalise_database_url("postgresql+psycopg2://a@b/c") == "postgresql+psycopg2://a@b/c"


def test_production_builds_url_from_postgres_vars_with_quoting():
    url = ProductionConfig.database_url("/nowhere", {**POSTGRES_ENV, "POSTGRES_PORT": "6432"})
    assert url == "postgresql+psycopg2://td:p%40ss%3Aword%2Fx@db.internal:6432/testdash"


def test_production_default_port_and_sslmode():
    url = ProductionConfig.database_url("/nowhere", {**POSTGRES_ENV, "POSTGRES_SSLMODE": "require"})
    assert url.endswith("@db.internal:5432/testdash?sslmode=require")


def test_production_reads_mounted_secret_files(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    environ = {**POSTGRES_ENV, "POSTGRES_PASS_FILE": str(secret)}
    del environ["POSTGRES_PASS"]
    assert ":from-a-file@" in ProductionConfig.database_url("/x", environ)
    url_file = tmp_path / "url"
    url_file.write_text("postgres://x:y@z/w")
    assert ProductionConfig.database_url("/x", {"DATABASE_URL_FILE": str(url_file)}) == (
        "postgresql+psycopg2://x:y@z/w"
    )


def test_production_missing_settings_name_the_variables():
    with pytest.raises(ConfigError) as excinfo:
        ProductionConfig.database_url("/x", {"POSTGRES_USER": "td"})
    message = str(excinfo.value)
    for name in ("POSTGRES_PASS", "POSTGRES_DB_NAME", "POSTGRES_HOST"):
        assert name in message
    assert "POSTGRES_USER" not in message.split("missing:")[1]


def test_production_fails_when_the_app_is_made_not_at_import(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", *POSTGRES_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path))
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "FLASK_CONFIG": "production"}
    code = "import testdash_models, testdash_models.config, testdash_models.models"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)  # import needs no secret
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_base_app("production")


def test_unreadable_secret_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="POSTGRES_PASS_FILE"):
        ProductionConfig.database_url(
            "/x",
            {**POSTGRES_ENV, "POSTGRES_PASS": "", "POSTGRES_PASS_FILE": str(tmp_path / "nope")},
        )


def test_postgres_pool_settings_come_from_config(monkeypatch, tmp_path):
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@localhost/d")
    monkeypatch.setenv("DB_POOL_SIZE", "12")
    app = create_base_app("production")
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_pre_ping"] is True
    assert options["pool_size"] == 12
    assert options["pool_recycle"] > 0
    monkeypatch.setenv("DB_POOL_SIZE", "lots")
    with pytest.raises(ConfigError, match="DB_POOL_SIZE"):
        create_base_app("production")


def test_db_is_not_bound_at_import():
    from testdash_models import db

    assert db.__dict__.get("app") is None
    import flask_sqlalchemy

    assert isinstance(db, flask_sqlalchemy.SQLAlchemy)
